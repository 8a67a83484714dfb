/* dtype.c - facts about graft's element types (block sizes and bytes, names). */
#include "graft.h"

const char *graft_type_name(int type) {
    switch (type) {
    case GRAFT_TYPE_F32: return "f32";
    case GRAFT_TYPE_F16: return "f16";
    case GRAFT_TYPE_BF16: return "bf16";
    case GRAFT_TYPE_Q8_0: return "q8_0";
    case GRAFT_TYPE_Q4_0: return "q4_0";
    default: return NULL;
    }
}

int64_t graft_type_block_size(int type) {
    switch (type) {
    case GRAFT_TYPE_F32:
    case GRAFT_TYPE_F16:
    case GRAFT_TYPE_BF16: return 1;
    case GRAFT_TYPE_Q8_0:
    case GRAFT_TYPE_Q4_0: return 32;
    default: return 0;
    }
}

int64_t graft_type_block_bytes(int type) {
    switch (type) {
    case GRAFT_TYPE_F32: return 4;
    case GRAFT_TYPE_F16:
    case GRAFT_TYPE_BF16: return 2;
    case GRAFT_TYPE_Q8_0: return 34;
    case GRAFT_TYPE_Q4_0: return 18;
    default: return 0;
    }
}
