/* chair.h - CHAIR-i and CHAIR-s (Rohrbach et al. 2018, "Object Hallucination in Image
 * Captioning", chair.py) for generated captions: caption words singularised, two-word phrases
 * and the script's special cases merged, mapped through the published synonym list to the 80
 * COCO objects, and compared with the objects of the image's ground truth (COCO instance
 * annotations plus the objects its reference captions mention, as chair.py does).
 * chair.py singularises with a general English lemmatiser; graft has rules for the plurals that
 * occur among the synonym list's words (docs/eval.md, "CHAIR").
 *
 * Thread safety: a graft_chair is read-only after its ground truth is added.
 *
 *     graft_chair *c;
 *     graft_chair_new("synonyms.txt", &c, &err);
 *     graft_chair_add_ground_truth(c, "instances_val2014.json", &err);
 *     graft_chair_result r;
 *     graft_chair_score(c, ids, captions, n, &r, &err);   // r.chair_s, r.chair_i
 *     graft_chair_free(c);
 */
#ifndef GRAFT_EVAL_CHAIR_H
#define GRAFT_EVAL_CHAIR_H

#include <stddef.h>

#include "graft.h"

typedef struct graft_chair graft_chair;

/* The synonym list the CHAIR paper published (one COCO object per line, its synonyms after it,
 * ", "-separated; first word = the object). NULL: graft_chair_default_synonyms(). */
int graft_chair_new(const char *synonyms_path, graft_chair **out, graft_error *err);
void graft_chair_free(graft_chair *c);
/* "../shared/eval/chair/synonyms.txt" when it exists (or $GRAFT_CHAIR_SYNONYMS), else NULL. */
const char *graft_chair_default_synonyms(void);

/* Ground truth from a file, detected from content: COCO instances JSON ({"annotations":
 * [{"image_id", "category_id"}], "categories": [{"id", "name"}]}), COCO captions JSON
 * ({"annotations": [{"image_id", "caption"}]}: the objects the captions mention), or a JSONL of
 * {"id", "captions": [...], "instances": [{"category"}]} lines (both kinds at once). */
int graft_chair_add_ground_truth(graft_chair *c, const char *path, graft_error *err);
/* One image's ground truth by hand: a COCO object name (or a synonym), or a caption whose
 * objects count (chair.py's get_annotations_from_captions). */
int graft_chair_add_object(graft_chair *c, long long image_id, const char *name, graft_error *err);
int graft_chair_add_caption(graft_chair *c, long long image_id, const char *caption,
                            graft_error *err);
/* Whether any ground truth was added for the image. */
int graft_chair_has_image(const graft_chair *c, long long image_id);

/* The COCO objects a caption mentions, in caption order with repeats (chair.py's node_words):
 * *objs receives n pointers to the object names owned by c (free the array only). */
int graft_chair_caption_objects(const graft_chair *c, const char *caption, const char ***objs,
                                int *n, graft_error *err);

typedef struct {
    size_t n_captions;          /* captions scored */
    size_t n_hallucinated_caps; /* captions with at least one mention not in the ground truth */
    size_t n_mentions;          /* object mentions (with repeats) */
    size_t n_hallucinated;      /* mentions not in the ground truth */
    size_t n_no_ground_truth;   /* captions whose image had no ground truth (scored against none) */
    double chair_s, chair_i;    /* n_hallucinated_caps / n_captions, n_hallucinated / n_mentions
                                 * (0 when the denominator is 0) */
} graft_chair_result;

/* CHAIR over n captions of images image_ids[i]. */
int graft_chair_score(const graft_chair *c, const long long *image_ids,
                      const char *const *captions, size_t n, graft_chair_result *out,
                      graft_error *err);

/* A COCO image id from a sample: the id when it is all digits ("000000296284" -> 296284), else
 * the last run of digits in the image path ("val2014/COCO_val2014_000000000042.jpg" -> 42);
 * -1 when neither has one. */
long long graft_chair_image_key(const char *id, const char *image_path);

#endif
