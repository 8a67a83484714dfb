/* chat.c - chat templates: the prompt formats LLaVA-family users run, rendered from a list of
 * messages. graft has no Jinja engine; like llama.cpp it recognises the common templates and
 * renders them with code. Formats (user "hi", assistant "yo", user "more"):
 *   vicuna_v1  SYSTEM USER: hi ASSISTANT: yo</s>USER: more ASSISTANT:     (LLaVA's conv_vicuna_v1)
 *   llama2     [INST] <<SYS>>\nSYSTEM\n<</SYS>>\n\nhi [/INST] yo </s><s>[INST] more [/INST]
 *   mistral    [INST] SYSTEM\n\nhi [/INST]yo</s>[INST] more [/INST]
 *   chatml     <|im_start|>system\nSYSTEM<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n...
 * and the prompt formats of the other grafting recipes (docs/recipes.md):
 *   blip2      Question: hi Answer: yo. Question: more Answer:          (BLIP-2's VQA prompt)
 *   minigpt4   SYSTEM###Human: hi###Assistant: yo###Human: more###Assistant:   (MiniGPT-4's CONV_VISION)
 *   mplug_owl  SYSTEM\nHuman: hi\nAI: yo\nHuman: more\nAI:_   (mPLUG-Owl's README / interface.py;
 *              "_" is a trailing space) */
#include <string.h>

#include "error.h"
#include "graft.h"

/* LLaVA's default system message for conv_vicuna_v1 */
static const char VICUNA_SYSTEM[] =
    "A chat between a curious human and an artificial intelligence assistant. The assistant gives "
    "helpful, detailed, and polite answers to the human's questions.";

/* MiniGPT-4's system message (conversation.py, CONV_VISION) and mPLUG-Owl's (its demo prompt) */
static const char MINIGPT4_SYSTEM[] =
    "Give the following image: <Img>ImageContent</Img>. You will be able to see the image once I provide "
    "it to you. Please answer my questions.";
static const char OWL_SYSTEM[] =
    "The following is a conversation between a curious human and AI assistant. The assistant gives "
    "helpful, detailed, and polite answers to the user's questions.";

static const char *const names[] = {"vicuna_v1", "llama2", "mistral", "chatml", "blip2", "minigpt4",
                                    "mplug_owl", NULL};

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

/* BLIP-2: "Question: q Answer:", earlier answers as " a." (no system message). */
static void blip2(sb *b, const graft_chat_msg *m, int n, int add) {
    int started = 0;
    for (int i = 0; i < n; i++) {
        if (is(&m[i], "system")) continue;
        if (is(&m[i], "user")) {
            if (started) put(b, " ");
            put(b, "Question: ");
            put(b, m[i].content);
            put(b, " Answer:");
            started = 1;
        } else {
            put(b, " ");
            put(b, m[i].content);
            put(b, ".");
        }
    }
    (void)add; /* the answer follows "Answer:" */
}

/* A "sep"-style conversation: SYSTEM sep, then role + ": " + message + sep per message, and the
 * next role + ":" (MiniGPT-4: sep "###", roles Human / Assistant). */
static void sep_style(sb *b, const graft_chat_msg *m, int n, int add, const char *system, const char *sep,
                      const char *user, const char *assistant) {
    int i = 0;
    put(b, n > 0 && is(&m[0], "system") ? m[i++].content : system);
    put(b, sep);
    for (; i < n; i++) {
        put(b, is(&m[i], "user") ? user : assistant);
        put(b, ": ");
        put(b, m[i].content);
        put(b, sep);
    }
    if (add) {
        put(b, assistant);
        put(b, ":");
    }
}

/* mPLUG-Owl: SYSTEM, then "\nHuman: " / "\nAI: " turns. */
static void owl(sb *b, const graft_chat_msg *m, int n, int add) {
    int i = 0;
    put(b, n > 0 && is(&m[0], "system") ? m[i++].content : OWL_SYSTEM);
    for (; i < n; i++) {
        put(b, is(&m[i], "user") ? "\nHuman: " : "\nAI: ");
        put(b, m[i].content);
    }
    if (add) put(b, "\nAI: ");
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
    else if (!strcmp(tmpl, "blip2")) blip2(&b, msgs, n, add_assistant);
    else if (!strcmp(tmpl, "minigpt4")) sep_style(&b, msgs, n, add_assistant, MINIGPT4_SYSTEM, "###", "Human", "Assistant");
    else if (!strcmp(tmpl, "mplug_owl")) owl(&b, msgs, n, add_assistant);
    else
        return graft_error_set(err, GRAFT_E_NOTFOUND, "unknown chat template '%s' (known: vicuna_v1, llama2, "
                               "mistral, chatml, blip2, minigpt4, mplug_owl)", tmpl);
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
