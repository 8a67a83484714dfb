/* fuzz_chat.c - chat template rendering with arbitrary roles and contents, the two-call sizing
 * protocol (length first, then the text), and template detection on arbitrary Jinja text. */
#include <string.h>

#include "fuzz_util.h"
#include "graft.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    const char *const *names = graft_chat_templates();
    int n_names = 0;
    while (names[n_names]) n_names++;
    const char *tmpl = names[data[0] % n_names];
    const int add_assistant = data[1] & 1;
    /* the rest: NUL-separated fields, taken as role, content, role, content, ... */
    char *buf = malloc(size - 1);
    if (!buf) return 0;
    memcpy(buf, data + 2, size - 2);
    buf[size - 2] = 0;
    graft_chat_msg msgs[16];
    int n = 0;
    static const char *const roles[] = {"system", "user", "assistant"};
    for (char *p = buf; p < buf + size - 1 && n < 16;) {
        size_t l = strlen(p);
        /* a short field is a role index, else the field itself is the role (unknown roles too) */
        msgs[n].role = l == 1 ? roles[(unsigned char)p[0] % 3] : p;
        p += l + 1;
        msgs[n].content = p < buf + size - 1 ? p : "";
        p += p < buf + size - 1 ? strlen(p) + 1 : 0;
        n++;
    }
    graft_error err;
    size_t len = 0, len2 = 0;
    if (graft_chat_render(tmpl, msgs, n, add_assistant, NULL, 0, &len, &err) == GRAFT_OK) {
        char *out = malloc(len + 1);
        if (out) {
            if (graft_chat_render(tmpl, msgs, n, add_assistant, out, len + 1, &len2, &err) != GRAFT_OK ||
                len2 != len || strlen(out) > len)
                abort(); /* the sizing call and the writing call must agree */
            free(out);
        }
    }
    graft_chat_detect((const char *)data, size);
    free(buf);
    return 0;
}
