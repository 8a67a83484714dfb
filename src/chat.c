/* chat.c - chat templates: the prompt formats LLaVA-family users run, rendered from a list of
 * messages. graft has no Jinja engine; like llama.cpp it recognises the common templates and
 * renders them with code. Formats (user "hi", assistant "yo", user "more"):
 *   vicuna_v1  SYSTEM USER: hi ASSISTANT: yo</s>USER: more ASSISTANT:     (LLaVA's conv_vicuna_v1)
 *   llama2     [INST] <<SYS>>\nSYSTEM\n<</SYS>>\n\nhi [/INST] yo </s><s>[INST] more [/INST]
 *   mistral    [INST] SYSTEM\n\nhi [/INST]yo</s>[INST] more [/INST]
 *   chatml     <|im_start|>system\nSYSTEM<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n... */
#include <string.h>

#include "error.h"
#include "graft.h"

/* LLaVA's default system message for conv_vicuna_v1 */
static const char VICUNA_SYSTEM[] =
    "A chat between a curious human and an artificial intelligence assistant. The assistant gives "
    "helpful, detailed, and polite answers to the human's questions.";

static const char *const names[] = {"vicuna_v1", "llama2", "mistral", "chatml", NULL};

const char *const *graft_chat_templates(void) { return names; }

/* A bounded string builder: counts everything, stores what fits. */
typedef struct {
    char *out;
    size_t cap, len;
} sb;

static void put(sb *b, const char *s) {
    size_t n = strlen(s);
    if (b->cap && b->len < b->cap - 1) {
        size_t room = b->cap - 1 - b->len;
        memcpy(b->out + b->len, s, n < room ? n : room);
    }
    b->len += n;
}

static int is(const graft_chat_msg *m, const char *role) { return m->role && !strcmp(m->role, role); }

static void vicuna(sb *b, const graft_chat_msg *m, int n, int add) {
    int i = 0;
    put(b, n > 0 && is(&m[0], "system") ? m[i++].content : VICUNA_SYSTEM);
    put(b, " ");
    for (; i < n; i++) {
        if (is(&m[i], "user")) {
            put(b, "USER: ");
            put(b, m[i].content);
            put(b, " ");
        } else {
            put(b, "ASSISTANT: ");
            put(b, m[i].content);
            put(b, "</s>");
        }
    }
    if (add) put(b, "ASSISTANT:");
}

static void llama2(sb *b, const graft_chat_msg *m, int n, int add) {
    int i = 0;
    const char *sys = NULL;
    if (n > 0 && is(&m[0], "system")) sys = m[i++].content;
    int first = 1;
    for (; i < n; i++) {
        if (is(&m[i], "user")) {
            put(b, first ? "[INST] " : "<s>[INST] ");
            if (first && sys) {
                put(b, "<<SYS>>\n");
                put(b, sys);
                put(b, "\n<</SYS>>\n\n");
            }
            put(b, m[i].content);
            put(b, " [/INST]");
            first = 0;
        } else {
            put(b, " ");
            put(b, m[i].content);
            put(b, " </s>");
        }
    }
    (void)add; /* the assistant's turn starts right after [/INST] */
}

static void mistral(sb *b, const graft_chat_msg *m, int n, int add) {
    int i = 0;
    const char *sys = NULL;
    if (n > 0 && is(&m[0], "system")) sys = m[i++].content;
    int first = 1;
    for (; i < n; i++) {
        if (is(&m[i], "user")) {
            put(b, "[INST] ");
            if (first && sys) {
                put(b, sys);
                put(b, "\n\n");
            }
            put(b, m[i].content);
            put(b, " [/INST]");
            first = 0;
        } else {
            put(b, m[i].content);
            put(b, "</s>");
        }
    }
    (void)add;
}

static void chatml(sb *b, const graft_chat_msg *m, int n, int add) {
    for (int i = 0; i < n; i++) {
        put(b, "<|im_start|>");
        put(b, m[i].role);
        put(b, "\n");
        put(b, m[i].content);
        put(b, "<|im_end|>\n");
    }
    if (add) put(b, "<|im_start|>assistant\n");
}

int graft_chat_render(const char *tmpl, const graft_chat_msg *msgs, int n, int add_assistant,
                      char *out, size_t cap, size_t *len, graft_error *err) {
    for (int i = 0; i < n; i++) {
        if (!msgs[i].content || !(is(&msgs[i], "system") || is(&msgs[i], "user") || is(&msgs[i], "assistant")))
            return graft_error_set(err, GRAFT_E_INVALID,
                                   "chat message %d: role must be system, user or assistant, with content", i);
        if (is(&msgs[i], "system") && i > 0)
            return graft_error_set(err, GRAFT_E_INVALID, "chat message %d: a system message must come first", i);
    }
    sb b = {out, cap, 0};
    if (!tmpl) tmpl = "";
    if (!strcmp(tmpl, "vicuna_v1")) vicuna(&b, msgs, n, add_assistant);
    else if (!strcmp(tmpl, "llama2")) llama2(&b, msgs, n, add_assistant);
    else if (!strcmp(tmpl, "mistral")) mistral(&b, msgs, n, add_assistant);
    else if (!strcmp(tmpl, "chatml")) chatml(&b, msgs, n, add_assistant);
    else
        return graft_error_set(err, GRAFT_E_NOTFOUND,
                               "unknown chat template '%s' (known: vicuna_v1, llama2, mistral, chatml)", tmpl);
    if (cap) out[b.len < cap ? b.len : cap - 1] = 0;
    if (len) *len = b.len;
    return GRAFT_OK;
}

static int has(const char *s, size_t n, const char *needle) {
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(s + i, needle, k)) return 1;
    return 0;
}

const char *graft_chat_detect(const char *j, size_t n) {
    if (!j) return NULL;
    if (has(j, n, "<|im_start|>")) return "chatml";
    if (has(j, n, "[INST]") && has(j, n, "<<SYS>>")) return "llama2";
    if (has(j, n, "[INST]")) return "mistral";
    if (has(j, n, "USER:") && has(j, n, "ASSISTANT:")) return "vicuna_v1";
    return NULL;
}
