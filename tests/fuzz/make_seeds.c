/* make_seeds.c - writes the fuzzers' seed corpora (tests/fuzz/corpus/<harness>/) with graft's own
 * writers: small valid inputs of every kind a harness reads, so mutation starts from files that
 * reach deep into each parser. `make fuzz-seeds` builds and runs it; its output is committed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBIW_WINDOWS_UTF8 0
#include <stb/stb_image_write.h>

#include "gguf_write.h"
#include "graft.h"

static const char *root = "tests/fuzz/corpus";

static void mkdirs(const char *sub) {
    char p[512];
    mkdir(root, 0755);
    snprintf(p, sizeof p, "%s/%s", root, sub);
    if (mkdir(p, 0755) && errno != EEXIST) {
        perror(p);
        exit(1);
    }
}

static void put(const char *sub, const char *name, const void *data, size_t n) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s/%s", root, sub, name);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f)) {
        perror(p);
        exit(1);
    }
}

/* a seed for a harness whose first byte selects a mode / format */
static void put_sel(const char *sub, const char *name, unsigned char sel, const char *text) {
    size_t n = strlen(text);
    unsigned char *b = malloc(n + 1);
    b[0] = sel;
    memcpy(b + 1, text, n);
    put(sub, name, b, n + 1);
    free(b);
}

static void write_gguf(gguf_writer *w, const char *name) {
    char p[512];
    graft_error err;
    snprintf(p, sizeof p, "%s/gguf/%s", root, name);
    if (gguf_writer_write(w, p, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    gguf_writer_free(w);
}

static float zeros[4096];

static void tensor(gguf_writer *w, const char *name, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3) {
    int64_t ne[4] = {ne0, ne1, ne2, ne3};
    int nd = ne3 > 1 ? 4 : ne2 > 1 ? 3 : ne1 > 0 ? 2 : 1;
    if (nd == 2 && ne1 == 0) nd = 1;
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= ne[i];
    gguf_writer_add_tensor(w, name, GRAFT_TYPE_F32, nd, ne, zeros, (size_t)n * 4, GGUF_W_COPY);
}

static void gguf_seeds(void) {
    mkdirs("gguf");
    /* every value type, nested arrays, three tensor types */
    gguf_writer *w = gguf_writer_new();
    gguf_writer_add_u8(w, "a.u8", 7);
    gguf_writer_add_i8(w, "a.i8", -7);
    gguf_writer_add_u16(w, "a.u16", 700);
    gguf_writer_add_i16(w, "a.i16", -700);
    gguf_writer_add_u32(w, "a.u32", 70000);
    gguf_writer_add_i32(w, "a.i32", -70000);
    gguf_writer_add_u64(w, "a.u64", 1ull << 40);
    gguf_writer_add_i64(w, "a.i64", -(1ll << 40));
    gguf_writer_add_f32(w, "a.f32", 1.5f);
    gguf_writer_add_f64(w, "a.f64", -2.25);
    gguf_writer_add_bool(w, "a.bool", 1);
    gguf_writer_add_str(w, "a.str", "hello", 5);
    int32_t iv[3] = {1, -2, 3};
    gguf_writer_add_arr(w, "a.arr_i32", 5 /* I32 */, iv, 3);
    const char *sv[2] = {"x", "yz"};
    gguf_writer_add_arr_str(w, "a.arr_str", sv, NULL, 2);
    gguf_wval *outer = gguf_wval_arr(9 /* ARRAY */), *inner = gguf_wval_arr(4 /* U32 */);
    uint32_t one = 1;
    gguf_wval_push(inner, &one);
    gguf_wval_push_arr(outer, inner);
    gguf_writer_add_val(w, "a.nested", outer);
    tensor(w, "t.f32", 4, 2, 1, 1);
    int64_t ne[2] = {32, 1};
    unsigned char q8[34] = {0}, q4[18] = {0};
    gguf_writer_add_tensor(w, "t.q8_0", GRAFT_TYPE_Q8_0, 2, ne, q8, sizeof q8, GGUF_W_COPY);
    gguf_writer_add_tensor(w, "t.q4_0", GRAFT_TYPE_Q4_0, 2, ne, q4, sizeof q4, GGUF_W_COPY);
    write_gguf(w, "kinds.gguf");

    /* a whole llama decoder: E 8, 1 block, 2 heads, FFN 16, an SPM vocabulary of 12 tokens */
    w = gguf_writer_new();
    gguf_writer_add_str(w, "general.architecture", "llama", 5);
    gguf_writer_add_u32(w, "llama.context_length", 64);
    gguf_writer_add_u32(w, "llama.embedding_length", 8);
    gguf_writer_add_u32(w, "llama.block_count", 1);
    gguf_writer_add_u32(w, "llama.feed_forward_length", 16);
    gguf_writer_add_u32(w, "llama.attention.head_count", 2);
    gguf_writer_add_u32(w, "llama.attention.head_count_kv", 2);
    gguf_writer_add_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    gguf_writer_add_str(w, "tokenizer.ggml.model", "llama", 5);
    const char *tok[12] = {"<unk>", "<s>", "</s>", "<0x0A>", "<0x41>", "\xe2\x96\x81", "a", "b",
                           "\xe2\x96\x81" "a", "ab", "<image>", "\xe2\x96\x81" "ab"};
    float sc[12] = {0, 0, 0, 0, 0, -1, -2, -3, -4, -5, 0, -6};
    int32_t ty[12] = {2, 3, 3, 6, 6, 1, 1, 1, 1, 1, 4, 1};
    gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", tok, NULL, 12);
    gguf_writer_add_arr(w, "tokenizer.ggml.scores", 6 /* F32 */, sc, 12);
    gguf_writer_add_arr(w, "tokenizer.ggml.token_type", 5 /* I32 */, ty, 12);
    gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 1);
    gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 2);
    tensor(w, "token_embd.weight", 8, 12, 1, 1);
    tensor(w, "output_norm.weight", 8, 0, 1, 1);
    tensor(w, "blk.0.attn_norm.weight", 8, 0, 1, 1);
    tensor(w, "blk.0.attn_q.weight", 8, 8, 1, 1);
    tensor(w, "blk.0.attn_k.weight", 8, 8, 1, 1);
    tensor(w, "blk.0.attn_v.weight", 8, 8, 1, 1);
    tensor(w, "blk.0.attn_output.weight", 8, 8, 1, 1);
    tensor(w, "blk.0.ffn_norm.weight", 8, 0, 1, 1);
    tensor(w, "blk.0.ffn_gate.weight", 8, 16, 1, 1);
    tensor(w, "blk.0.ffn_up.weight", 8, 16, 1, 1);
    tensor(w, "blk.0.ffn_down.weight", 16, 8, 1, 1);
    write_gguf(w, "llama.gguf");

    /* a clip mmproj: image 8, patch 4, width 8, 1 block, mlp projector to 8 */
    w = gguf_writer_new();
    gguf_writer_add_str(w, "general.architecture", "clip", 4);
    gguf_writer_add_bool(w, "clip.has_vision_encoder", 1);
    gguf_writer_add_bool(w, "clip.has_llava_projector", 1);
    gguf_writer_add_str(w, "clip.projector_type", "mlp", 3);
    gguf_writer_add_u32(w, "clip.vision.image_size", 8);
    gguf_writer_add_u32(w, "clip.vision.patch_size", 4);
    gguf_writer_add_u32(w, "clip.vision.embedding_length", 8);
    gguf_writer_add_u32(w, "clip.vision.feed_forward_length", 16);
    gguf_writer_add_u32(w, "clip.vision.attention.head_count", 2);
    gguf_writer_add_f32(w, "clip.vision.attention.layer_norm_epsilon", 1e-5f);
    gguf_writer_add_u32(w, "clip.vision.block_count", 1);
    float mean[3] = {0.5f, 0.5f, 0.5f};
    gguf_writer_add_arr(w, "clip.vision.image_mean", 6, mean, 3);
    gguf_writer_add_arr(w, "clip.vision.image_std", 6, mean, 3);
    gguf_writer_add_bool(w, "clip.use_gelu", 0);
    tensor(w, "mm.0.weight", 8, 8, 1, 1);
    tensor(w, "mm.0.bias", 8, 0, 1, 1);
    tensor(w, "mm.2.weight", 8, 8, 1, 1);
    tensor(w, "mm.2.bias", 8, 0, 1, 1);
    tensor(w, "v.class_embd", 8, 0, 1, 1);
    tensor(w, "v.patch_embd.weight", 4, 4, 3, 8);
    tensor(w, "v.position_embd.weight", 8, 5, 1, 1);
    tensor(w, "v.pre_ln.weight", 8, 0, 1, 1);
    tensor(w, "v.pre_ln.bias", 8, 0, 1, 1);
    static const char *const mats[] = {"attn_q", "attn_k", "attn_v", "attn_out"};
    char nm[64];
    for (int i = 0; i < 4; i++) {
        snprintf(nm, sizeof nm, "v.blk.0.%s.weight", mats[i]);
        tensor(w, nm, 8, 8, 1, 1);
        snprintf(nm, sizeof nm, "v.blk.0.%s.bias", mats[i]);
        tensor(w, nm, 8, 0, 1, 1);
    }
    tensor(w, "v.blk.0.ln1.weight", 8, 0, 1, 1);
    tensor(w, "v.blk.0.ln1.bias", 8, 0, 1, 1);
    tensor(w, "v.blk.0.ln2.weight", 8, 0, 1, 1);
    tensor(w, "v.blk.0.ln2.bias", 8, 0, 1, 1);
    tensor(w, "v.blk.0.ffn_up.weight", 8, 16, 1, 1);
    tensor(w, "v.blk.0.ffn_up.bias", 16, 0, 1, 1);
    tensor(w, "v.blk.0.ffn_down.weight", 16, 8, 1, 1);
    tensor(w, "v.blk.0.ffn_down.bias", 8, 0, 1, 1);
    write_gguf(w, "mmproj.gguf");
}

static void put_safetensors(const char *name, const char *header, size_t data_len) {
    size_t hl = strlen(header), padded = (hl + 7) / 8 * 8;
    unsigned char *b = calloc(1, 8 + padded + data_len);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memcpy(b + 8, header, hl);
    memset(b + 8 + hl, ' ', padded - hl);
    for (size_t i = 0; i < data_len; i++) b[8 + padded + i] = (unsigned char)(i * 37);
    put("safetensors", name, b, 8 + padded + data_len);
    free(b);
}

static void safetensors_seeds(void) {
    mkdirs("safetensors");
    put_safetensors("two.safetensors",
                    "{\"__metadata__\":{\"format\":\"pt\"},"
                    "\"a.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                    "\"b.bias\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[16,22]}}",
                    22);
    put_safetensors("kinds.safetensors",
                    "{\"h\":{\"dtype\":\"F16\",\"shape\":[1,2,2],\"data_offsets\":[0,8]},"
                    "\"i\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[8,16]},"
                    "\"e\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[16,16]}}",
                    16);
}

static void write_img(void *ctx, void *data, int size) { put("image", (const char *)ctx, data, (size_t)size); }

static void image_seeds(void) {
    mkdirs("image");
    unsigned char px[12 * 9 * 4];
    for (int i = 0; i < (int)sizeof px; i++) px[i] = (unsigned char)(i * 29 + (i / 7) * 3);
    stbi_write_png_to_func(write_img, "rgb.png", 12, 9, 3, px, 12 * 3);
    stbi_write_png_to_func(write_img, "rgba.png", 12, 9, 4, px, 12 * 4);
    stbi_write_png_to_func(write_img, "gray.png", 12, 9, 1, px, 12);
    stbi_write_jpg_to_func(write_img, "rgb.jpg", 12, 9, 3, px, 90);
    stbi_write_jpg_to_func(write_img, "gray.jpg", 12, 9, 1, px, 75);
    stbi_write_bmp_to_func(write_img, "rgb.bmp", 12, 9, 3, px);
    stbi_write_tga_to_func(write_img, "rgba.tga", 12, 9, 4, px);
    const char ppm[] = "P6\n2 2\n255\n\377\0\0\0\377\0\0\0\377\377\377\377";
    put("image", "tiny.ppm", ppm, sizeof ppm - 1);
}

static void text_seeds(void) {
    mkdirs("tokenizer");
    /* first byte: vocabulary (byte % 6) and mode ((byte / 6) % 4) as fuzz_tokenizer.c reads it */
    static const char *const texts[] = {
        "Hello world", " USER: <image>\nWhat is shown? ASSISTANT:", "<s>a</s> ab\n\n  b",
        "h\xc3\xa9llo \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x99\x82 1234567 +-*/",
        "\xff\xfe invalid \xc3 utf8 \xed\xa0\x80", "don't we'll I'M   tabs\t\tand\r\nlines",
    };
    char nm[32];
    for (int v = 0; v < 6; v++)
        for (int m = 0; m < 3; m++) {
            snprintf(nm, sizeof nm, "v%d-m%d", v, m);
            put_sel("tokenizer", nm, (unsigned char)(v + 6 * m), texts[(v + m) % 6]);
        }
    for (int v = 0; v < 6; v++) {
        unsigned char ids[1 + 16] = {(unsigned char)(v + 18)};
        for (int i = 1; i < 17; i++) ids[i] = (unsigned char)(i * 13);
        snprintf(nm, sizeof nm, "v%d-ids", v);
        put("tokenizer", nm, ids, sizeof ids);
    }

    mkdirs("chat");
    static const char conv[] = "\0\1\0system\0You are helpful.\0u\0Hi <image>\0assistant\0Hello!\0user\0And?";
    for (int t = 0; t < 4; t++) {
        unsigned char b[sizeof conv + 1];
        memcpy(b + 1, conv, sizeof conv);
        b[0] = (unsigned char)t;
        b[1] = 1;
        snprintf(nm, sizeof nm, "t%d", t);
        put("chat", nm, b, sizeof b);
    }
    const char jinja[] = "\0\0{% for message in messages %}{{ '<|im_start|>' + message['role'] }}{% endfor %}";
    put("chat", "jinja", jinja, sizeof jinja - 1);

    mkdirs("eval");
    /* first byte: format (graft_eval_format order) + 8 * skip_bad */
    put_sel("eval", "graft", 0,
            "{\"id\": \"q1\", \"type\": \"vqa\", \"image\": \"a.jpg\", \"question\": \"How many?\", \"answers\": [\"2\", \"two\"], \"category\": \"number\"}\n"
            "{\"id\": 5, \"type\": \"mcq\", \"image\": \"5/i.png\", \"context\": \"Map.\", \"question\": \"Which?\", \"choices\": [\"Ohio\", \"Utah\"], \"answer\": \"B\"}\n"
            "{\"id\": \"c7\", \"type\": \"caption\", \"images\": [\"c.jpg\"], \"answers\": [\"A dog.\", \"A cat.\"]}\n"
            "{\"id\": \"y\", \"type\": \"yesno\", \"image\": \"y.jpg\", \"question\": \"Is there a dog?\", \"answer\": \"yes\"}\n");
    put_sel("eval", "pope", 1,
            "{\"question_id\": 1, \"image\": \"COCO_val2014_000000310196.jpg\", \"text\": \"Is there a snowboard in the image?\", \"label\": \"yes\"}\n"
            "{\"question_id\": 2, \"image\": \"COCO_val2014_000000310196.jpg\", \"text\": \"Is there a dog in the image?\", \"label\": \"no\"}\n");
    put_sel("eval", "coco", 2,
            "{\"images\": [{\"id\": 42, \"file_name\": \"COCO_val2014_000000000042.jpg\"}], "
            "\"annotations\": [{\"image_id\": 42, \"caption\": \"A dog on a couch.\"}, {\"image_id\": 42, \"caption\": \"A dog.\"}]}");
    put_sel("eval", "llava-bench", 3,
            "{\"question_id\": 0, \"image\": \"001.jpg\", \"text\": \"What is unusual?\", \"category\": \"complex\"}\n");
    put_sel("eval", "vqav2", 4,
            "{\"data_subtype\": \"val2014\", \"questions\": [{\"image_id\": 42, \"question\": \"What color?\", \"question_id\": 420}]}");
    put_sel("eval", "scienceqa", 5,
            "{\"7\": {\"question\": \"Which?\", \"choices\": [\"a\", \"b\"], \"answer\": 1, \"hint\": \"h\", \"image\": \"image.png\", \"split\": \"test\", \"subject\": \"natural science\"}}");
    put_sel("eval", "llava-scienceqa", 6,
            "[{\"id\": \"7\", \"image\": \"7/image.png\", \"conversations\": [{\"value\": \"<image>\\nContext: h\\nWhich?\\nA. a\\nB. b\"}, {\"value\": \"B\"}]}]");
    put_sel("eval", "llava-questions", 7,
            "{\"question_id\": \"x\", \"image\": \"x.jpg\", \"text\": \"Read it.\\nAnswer the question using a single word or phrase.\", \"category\": \"ocr\"}\n");
}

int main(void) {
    gguf_seeds();
    safetensors_seeds();
    image_seeds();
    text_seeds();
    printf("seeds written to %s/\n", root);
    return 0;
}
