/* test_chat.c - chat templates render the exact published formats; detection from Jinja text. */
#include <string.h>

#include "graft.h"
#include "test_util.h"

static const graft_chat_msg conv[] = {
    {"system", "SYS"}, {"user", "hi"}, {"assistant", "yo"}, {"user", "more"}};

static void expect(const char *tmpl, const graft_chat_msg *m, int n, int add, const char *want) {
    char buf[512];
    size_t len = 0;
    graft_error e;
    ck_assert_int_eq(graft_chat_render(tmpl, m, n, add, buf, sizeof buf, &len, &e), GRAFT_OK);
    ck_assert_str_eq(buf, want);
    ck_assert_uint_eq(len, strlen(want));
}

START_TEST(test_formats) {
    expect("vicuna_v1", conv, 4, 1, "SYS USER: hi ASSISTANT: yo</s>USER: more ASSISTANT:");
    expect("vicuna_v1", conv + 1, 1, 1,
           "A chat between a curious human and an artificial intelligence assistant. The assistant "
           "gives helpful, detailed, and polite answers to the human's questions. USER: hi ASSISTANT:");
    expect("llama2", conv, 4, 1,
           "[INST] <<SYS>>\nSYS\n<</SYS>>\n\nhi [/INST] yo </s><s>[INST] more [/INST]");
    expect("llama2", conv + 1, 1, 1, "[INST] hi [/INST]");
    expect("mistral", conv + 1, 3, 1, "[INST] hi [/INST]yo</s>[INST] more [/INST]");
    expect("mistral", conv, 2, 1, "[INST] SYS\n\nhi [/INST]");
    expect("chatml", conv, 2, 1,
           "<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
    /* the other recipes' formats (docs/recipes.md): BLIP-2's VQA prompt has no system message */
    expect("blip2", conv, 4, 1, "Question: hi Answer: yo. Question: more Answer:");
    expect("minigpt4", conv, 4, 1, "SYS###Human: hi###Assistant: yo###Human: more###Assistant:");
    expect("minigpt4", conv + 1, 1, 1,
           "Give the following image: <Img>ImageContent</Img>. You will be able to see the image once I "
           "provide it to you. Please answer my questions.###Human: hi###Assistant:");
    expect("mplug_owl", conv, 4, 1, "SYS\nHuman: hi\nAI: yo\nHuman: more\nAI: ");
    expect("mplug_owl", conv + 1, 1, 0,
           "The following is a conversation between a curious human and AI assistant. The assistant "
           "gives helpful, detailed, and polite answers to the user's questions.\nHuman: hi");
}
END_TEST

START_TEST(test_sizing_and_errors) {
    size_t len = 0;
    graft_error e;
    ck_assert_int_eq(graft_chat_render("chatml", conv, 4, 1, NULL, 0, &len, &e), GRAFT_OK);
    ck_assert_uint_gt(len, 50);
    char small[8];
    ck_assert_int_eq(graft_chat_render("chatml", conv, 4, 1, small, sizeof small, &len, &e), GRAFT_OK);
    ck_assert_str_eq(small, "<|im_st"); /* truncated, NUL-terminated */
    ck_assert_int_eq(graft_chat_render("nope", conv, 4, 1, NULL, 0, &len, &e), GRAFT_E_NOTFOUND);
    ck_assert(strstr(e.msg, "nope") != NULL);
    graft_chat_msg bad[] = {{"user", "a"}, {"system", "late"}};
    ck_assert_int_eq(graft_chat_render("chatml", bad, 2, 1, NULL, 0, &len, &e), GRAFT_E_INVALID);
}
END_TEST

START_TEST(test_detect) {
    const char *j1 = "{% for m in messages %}<|im_start|>{{m.role}}\n{{m.content}}<|im_end|>{% endfor %}";
    const char *j2 = "{{ bos_token }}[INST] <<SYS>>\\n{{ system }}<</SYS>>[/INST]";
    const char *j3 = "{{ bos_token }}{% for m in messages %}[INST] {{ m.content }} [/INST]{% endfor %}";
    ck_assert_str_eq(graft_chat_detect(j1, strlen(j1)), "chatml");
    ck_assert_str_eq(graft_chat_detect(j2, strlen(j2)), "llama2");
    ck_assert_str_eq(graft_chat_detect(j3, strlen(j3)), "mistral");
    ck_assert_ptr_null(graft_chat_detect("{{ x }}", 7));
}
END_TEST

Suite *suite_chat(void) {
    Suite *s = suite_create("chat");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_formats);
    tcase_add_test(tc, test_sizing_and_errors);
    tcase_add_test(tc, test_detect);
    suite_add_tcase(s, tc);
    return s;
}
