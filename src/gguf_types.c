/* gguf_types.c - the table of every ggml tensor type id GGUF files can name: its ggml name, its
 * block size (elements) and block bytes. Used by the GGUF reader and writer to size tensors and by
 * `graft inspect` to name them; graft computes with only a few of them (see graft_type). */
#include "graft_gguf.h"

typedef struct ggml_type_row {
    const char *name;
    int64_t block_size; /* elements per block; 0 = id removed from ggml (files with it are refused) */
    int64_t block_bytes;
} ggml_type_row;

/* Block bytes are the sizes of ggml's block structs (f16 scales are 2 bytes, Q8_K's scale is f32). */
static const ggml_type_row ggml_types[] = {
    [0] = {"f32", 1, 4},
    [1] = {"f16", 1, 2},
    [2] = {"q4_0", 32, 18},       /* f16 d, 16 bytes of nibbles */
    [3] = {"q4_1", 32, 20},       /* f16 d, f16 m, 16 bytes of nibbles */
    [4] = {"q4_2", 0, 0},         /* removed */
    [5] = {"q4_3", 0, 0},         /* removed */
    [6] = {"q5_0", 32, 22},       /* f16 d, 4 bytes high bits, 16 bytes of nibbles */
    [7] = {"q5_1", 32, 24},       /* f16 d, f16 m, 4 + 16 */
    [8] = {"q8_0", 32, 34},       /* f16 d, 32 int8 */
    [9] = {"q8_1", 32, 36},       /* f16 d, f16 s, 32 int8 */
    [10] = {"q2_K", 256, 84},     /* 16 scales, 64 qs, f16 d, f16 dmin */
    [11] = {"q3_K", 256, 110},    /* 32 hmask, 64 qs, 12 scales, f16 d */
    [12] = {"q4_K", 256, 144},    /* f16 d, f16 dmin, 12 scales, 128 qs */
    [13] = {"q5_K", 256, 176},    /* f16 d, f16 dmin, 12 scales, 32 qh, 128 qs */
    [14] = {"q6_K", 256, 210},    /* 128 ql, 64 qh, 16 scales, f16 d */
    [15] = {"q8_K", 256, 292},    /* f32 d, 256 qs, 16 int16 bsums */
    [16] = {"iq2_xxs", 256, 66},  /* f16 d, 32 uint16 */
    [17] = {"iq2_xs", 256, 74},   /* f16 d, 32 uint16, 8 scales */
    [18] = {"iq3_xxs", 256, 98},  /* f16 d, 96 bytes */
    [19] = {"iq1_s", 256, 50},    /* f16 d, 32 qs, 8 uint16 qh */
    [20] = {"iq4_nl", 32, 18},    /* f16 d, 16 bytes */
    [21] = {"iq3_s", 256, 110},   /* f16 d, 64 qs, 8 qh, 32 signs, 4 scales */
    [22] = {"iq2_s", 256, 82},    /* f16 d, 64 qs, 8 qh, 8 scales */
    [23] = {"iq4_xs", 256, 136},  /* f16 d, uint16 scales_h, 4 scales_l, 128 qs */
    [24] = {"i8", 1, 1},
    [25] = {"i16", 1, 2},
    [26] = {"i32", 1, 4},
    [27] = {"i64", 1, 8},
    [28] = {"f64", 1, 8},
    [29] = {"iq1_m", 256, 56},    /* 32 qs, 16 qh, 8 scales (scale packed inside) */
    [30] = {"bf16", 1, 2},
    [31] = {"q4_0_4_4", 0, 0},    /* removed: repacked at load time now */
    [32] = {"q4_0_4_8", 0, 0},    /* removed */
    [33] = {"q4_0_8_8", 0, 0},    /* removed */
    [34] = {"tq1_0", 256, 54},    /* 48 qs, 4 qh, f16 d */
    [35] = {"tq2_0", 256, 66},    /* 64 qs, f16 d */
    [36] = {"iq4_nl_4_4", 0, 0},  /* removed */
    [37] = {"iq4_nl_4_8", 0, 0},  /* removed */
    [38] = {"iq4_nl_8_8", 0, 0},  /* removed */
    [39] = {"mxfp4", 32, 17},     /* e8m0 shared exponent, 16 bytes of fp4 nibbles */
};

#define N_GGML_TYPES ((int)(sizeof ggml_types / sizeof ggml_types[0]))

const char *graft_ggml_type_name(int type) {
    return type >= 0 && type < N_GGML_TYPES ? ggml_types[type].name : NULL;
}

int64_t graft_ggml_type_block_size(int type) {
    return type >= 0 && type < N_GGML_TYPES ? ggml_types[type].block_size : 0;
}

int64_t graft_ggml_type_block_bytes(int type) {
    return type >= 0 && type < N_GGML_TYPES ? ggml_types[type].block_bytes : 0;
}

const char *graft_gguf_type_name(int type) {
    static const char *const names[] = {"u8",  "i8",     "u16",   "i16", "u32", "i32", "f32",
                                        "bool", "string", "array", "u64", "i64", "f64"};
    return type >= 0 && type < (int)(sizeof names / sizeof names[0]) ? names[type] : NULL;
}

int graft_gguf_value_size(int type) {
    switch (type) {
    case GRAFT_GGUF_U8:
    case GRAFT_GGUF_I8:
    case GRAFT_GGUF_BOOL: return 1;
    case GRAFT_GGUF_U16:
    case GRAFT_GGUF_I16: return 2;
    case GRAFT_GGUF_U32:
    case GRAFT_GGUF_I32:
    case GRAFT_GGUF_F32: return 4;
    case GRAFT_GGUF_U64:
    case GRAFT_GGUF_I64:
    case GRAFT_GGUF_F64: return 8;
    default: return 0;
    }
}
