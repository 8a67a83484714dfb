/* recipe.c - the grafting recipes graft runs, as data: how each design's original code feeds an
 * image to its language model (where the rows go, how the text around them is tokenized, which
 * preprocessing and prompt format it uses). The pipeline (pipeline.c), the CLI and the eval runner
 * read these defaults; every one can be overridden. An mmproj names its recipe with the string key
 * graft.recipe (absent: "llava"). Sources of each row: docs/recipes.md. */
#include <string.h>

#include "graft.h"

static const graft_recipe recipes[] = {
    /* LLaVA (HF LlavaForConditionalGeneration): the rows replace <image> in the text; the text
     * after an image gets no SentencePiece prefix space (HF Llama tokenizer, legacy=False) */
    {"llava", "LLaVA: CLIP ViT, MLP/linear projector, rows inline at <image>", "vicuna_v1", "<image>",
     "<image>\n", GRAFT_MM_MODE_PAD, GRAFT_MM_PLACE_INLINE, GRAFT_MM_SPACE_HF, 0, NULL},
    /* BLIP-2 (HF Blip2ForConditionalGeneration 4.40): [query rows; BOS + text], no image token */
    {"blip2", "BLIP-2: EVA ViT, Q-Former, rows in front of BOS + text", "blip2", "<image>", "",
     GRAFT_MM_MODE_RESIZE, GRAFT_MM_PLACE_PREPEND, GRAFT_MM_SPACE_HF, 0, NULL},
    /* InstructBLIP: as BLIP-2, and the Q-Former also reads the instruction (its own WordPiece
     * tokenizer); the LLM gets the instruction as plain text */
    {"instructblip", "InstructBLIP: EVA ViT, instruction-aware Q-Former, rows in front of BOS + text",
     "none", "<image>", "", GRAFT_MM_MODE_RESIZE, GRAFT_MM_PLACE_PREPEND, GRAFT_MM_SPACE_HF, 1, NULL},
    /* MiniGPT-4: the prompt is split at <ImageHere> and every segment is tokenized on its own (each
     * gets SentencePiece's prefix space; only the first gets BOS); replies end at "###" */
    {"minigpt4", "MiniGPT-4: BLIP-2's ViT + Q-Former, one linear layer into Vicuna", "minigpt4",
     "<ImageHere>", "<Img><ImageHere></Img> ", GRAFT_MM_MODE_RESIZE, GRAFT_MM_PLACE_INLINE,
     GRAFT_MM_SPACE_EACH, 0, "###"},
    /* mPLUG-Owl (MplugOwlProcessor): the abstractor's 65 rows replace <image>, its own Human turn;
     * every text piece is tokenized as a fresh text (prefix space after the image too), BOS once;
     * CLIPImageProcessor = resize shortest side + centre crop */
    {"mplug_owl", "mPLUG-Owl: CLIP ViT-L, visual abstractor, LLaMA", "mplug_owl", "<image>",
     "<image>\nHuman: ", GRAFT_MM_MODE_CROP, GRAFT_MM_PLACE_INLINE, GRAFT_MM_SPACE_EACH, 0, NULL},
};
#define N_RECIPES (sizeof recipes / sizeof recipes[0])

const graft_recipe *graft_recipe_find(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < N_RECIPES; i++)
        if (!strcmp(recipes[i].name, name)) return &recipes[i];
    return NULL;
}

const graft_recipe *graft_recipe_at(int i) {
    return i >= 0 && (size_t)i < N_RECIPES ? &recipes[i] : NULL;
}
