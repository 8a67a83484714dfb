/* chair.c - CHAIR-i / CHAIR-s as the CHAIR paper's chair.py (Rohrbach et al. 2018) computes them:
 * caption -> lower-cased words -> singular -> two-word phrases and special cases merged (its
 * double_word_dict) -> "seat" dropped next to "toilet" -> words in the synonym list mapped to
 * their COCO object; a mention is hallucinated when the object is not in the image's ground truth
 * (instance annotations + the objects its reference captions mention). See chair.h, docs/eval.md. */
#define GRAFT_EVAL_DATASET_INTERNAL
#include "chair.h"

#include <cjson/cJSON.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataset.h"
#include "error.h"

#define MAX_OBJ 128 /* object lines in the synonym list (80 in the published one) */
#define NOMEM(err) graft_error_set(err, GRAFT_E_NOMEM, "CHAIR: out of memory")

typedef struct {
    char *word; /* a synonym as split(', ') left it (may start with a space: never matches) */
    int obj;    /* line of its object; a later line wins, as the script's dict assignment */
    int seq;    /* position in the file (while loading) */
} syn;

typedef struct {
    long long id;
    uint64_t objs[MAX_OBJ / 64]; /* bit o: object o is in the ground truth */
} gt_image;

struct graft_chair {
    char **objects; /* (n_obj) the first word of each line: the COCO object ("node word") */
    int n_obj;
    syn *syns;      /* (n_syn) sorted by word, unique */
    int n_syn;
    gt_image *img;  /* open-addressing table, cap a power of two; id -1 = empty */
    size_t n_img, cap_img;
};

/* ---- chair.py's hard-coded phrase rules ----------------------------------------------------- */

static const char *const double_words[] = {
    "motor bike", "motor cycle", "air plane", "traffic light", "street light", "traffic signal",
    "stop light", "fire hydrant", "stop sign", "parking meter", "suit case", "sports ball",
    "baseball bat", "baseball glove", "tennis racket", "wine glass", "hot dog", "cell phone",
    "mobile phone", "teddy bear", "hair drier", "potted plant", "bow tie", "laptop computer",
    "stove top oven", "home plate", "train track"};
static const char *const animal_words[] = {"bird", "cat", "dog", "horse", "sheep", "cow",
                                           "elephant", "bear", "zebra", "giraffe", "animal", "cub"};
static const char *const vehicle_words[] = {"jet", "train"};

/* The phrase "w1 w2" merges into the returned word, or NULL. Later entries of the script's
 * dict win: 'bow tie' -> 'tie', 'toilet seat' -> 'toilet', 'wine glas' -> 'wine glass'. */
static const char *merge_pair(const char *w1, const char *w2, char *buf, size_t cap) {
    if (!strcmp(w1, "bow") && !strcmp(w2, "tie")) return "tie";
    if (!strcmp(w1, "toilet") && !strcmp(w2, "seat")) return "toilet";
    if (!strcmp(w1, "wine") && !strcmp(w2, "glas")) return "wine glass";
    if (!strcmp(w1, "baby") || !strcmp(w1, "adult"))
        for (size_t i = 0; i < sizeof animal_words / sizeof *animal_words; i++)
            if (!strcmp(w2, animal_words[i])) return animal_words[i];
    if (!strcmp(w1, "passenger"))
        for (size_t i = 0; i < sizeof vehicle_words / sizeof *vehicle_words; i++)
            if (!strcmp(w2, vehicle_words[i])) return vehicle_words[i];
    if ((size_t)snprintf(buf, cap, "%s %s", w1, w2) >= cap) return NULL;
    for (size_t i = 0; i < sizeof double_words / sizeof *double_words; i++)
        if (!strcmp(buf, double_words[i])) return double_words[i];
    return NULL;
}

/* ---- singular forms ----------------------------------------------------------------------- */

/* chair.py singularises every word with a general English inflector (pattern.en.singularize;
 * later copies use NLTK's WordNet lemmatizer). These rules cover the plurals of the synonym
 * list's words and the common English patterns; docs/eval.md lists the differences. */
static const char *const irregular[][2] = {
    {"men", "man"}, {"women", "woman"}, {"children", "child"}, {"people", "person"},
    {"mice", "mouse"}, {"geese", "goose"}, {"teeth", "tooth"}, {"feet", "foot"},
    {"oxen", "ox"}, {"knives", "knife"}, {"wives", "wife"}, {"lives", "life"},
    {"leaves", "leaf"}, {"shelves", "shelf"}, {"wolves", "wolf"}, {"calves", "calf"},
    {"halves", "half"}, {"loaves", "loaf"}, {"scarves", "scarf"}, {"thieves", "thief"},
    {"elves", "elf"}, {"skis", "ski"}, {"taxis", "taxi"}, {"kiwis", "kiwi"},
    {"bikinis", "bikini"}, {"martinis", "martini"},
    {"dice", "die"}, {"pocketknives", "pocketknife"}, {"corgis", "corgi"}, {"zebus", "zebu"},
    {"broccolis", "broccoli"}, {"emus", "emu"}, {"gnus", "gnu"}};
static const char *const invariant[] = {
    "sheep", "deer", "fish", "species", "series", "cattle", "scissors", "news", "as", "has",
    "was", "gas", "canvas", "atlas", "christmas", "texas", "bias", "alias", "overseas",
    "whereas", "always", "perhaps", "its", "yes", "lens", "pants", "jeans", "shorts", "clothes",
    "goggles", "binoculars", "headphones", "earphones", "tongs",
    "tweezers", "pliers", "trousers", "congratulations", "thanks", "physics", "mathematics",
    "electronics", "athletics", "gymnastics", "aerobics", "economics", "politics", "dishes"};
static const char *const ie_plurals[] = {"cookies", "movies", "zombies", "rookies", "brownies",
                                         "smoothies", "selfies", "goalies", "hoodies", "veggies",
                                         "newbies", "hippies", "pixies", "aunties", "birdies",
                                         "doggies", "calories", "eyries", "prairies", "genies",
                                         "magpies", "collies", "bookies", "junkies", "lassies"};
static const char *const o_es_stems[] = {"tomato", "potato", "hero", "mango", "volcano",
                                         "tornado", "mosquito", "domino", "echo", "buffalo",
                                         "cargo", "torpedo", "veto", "embargo", "flamingo"};
static const char *const men_words[] = {"omen", "specimen", "abdomen", "semen", "stamen",
                                        "amen", "ramen", "hymen"};

static int in(const char *w, const char *const *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(w, v[i])) return 1;
    return 0;
}
#define IN(w, v) in(w, v, sizeof v / sizeof *v)

static int ends(const char *w, size_t n, const char *suf) {
    size_t k = strlen(suf);
    return n >= k && !memcmp(w + n - k, suf, k);
}

/* w singular in place; w has room for 7 more bytes (an irregular singular is at most 1 byte
 * longer than its plural: mice -> mouse) */
static void singularize(char *w) {
    size_t n = strlen(w);
    if (n <= 2) return;
    for (size_t i = 0; i < sizeof irregular / sizeof *irregular; i++)
        if (!strcmp(w, irregular[i][0])) {
            assert(strlen(irregular[i][1]) <= n + 7);
            strcpy(w, irregular[i][1]);
            return;
        }
    if (IN(w, invariant)) return;
    if (ends(w, n, "men") && n > 3 && !IN(w, men_words)) { /* policemen, snowmen */
        w[n - 2] = 'a';
        return;
    }
    if (ends(w, n, "buses")) { /* buses, minibuses, airbuses */
        w[n - 2] = '\0';
        return;
    }
    if (ends(w, n, "ss") || ends(w, n, "us") || ends(w, n, "is")) return; /* glass, bus, tennis */
    if (ends(w, n, "ies")) {
        if (n <= 4 || IN(w, ie_plurals)) w[n - 1] = '\0'; /* ties, pies, cookies */
        else strcpy(w + n - 3, "y");                       /* ladies, puppies */
        return;
    }
    if (ends(w, n, "oes")) {
        char stem[64];
        if (n - 2 < sizeof stem) {
            memcpy(stem, w, n - 2);
            stem[n - 2] = '\0';
            if (IN(stem, o_es_stems)) {
                w[n - 2] = '\0'; /* tomatoes */
                return;
            }
        }
        w[n - 1] = '\0'; /* shoes, canoes */
        return;
    }
    if (ends(w, n, "sses") || ends(w, n, "xes") || ends(w, n, "ches") || ends(w, n, "shes") ||
        ends(w, n, "zzes")) {
        w[n - 2] = '\0'; /* glasses, boxes, benches, toothbrushes */
        return;
    }
    if (w[n - 1] == 's' && w[n - 2] != 's') w[n - 1] = '\0'; /* dogs, horses, stoves, zebras */
}

/* ---- words of a caption ------------------------------------------------------------------- */

/* Lower-cased word tokens as nltk.word_tokenize leaves the nouns: runs of letters, digits,
 * bytes >= 0x80, and inner '-' / '\'' / '.'; a trailing "'s" or "'" and trailing dots come off. */
static int tokenize(const char *s, char ***out, int *n_out) {
    char **v = NULL;
    int n = 0, cap = 0;
    size_t len = strlen(s);
    char *buf = malloc(len + 1);
    if (!buf) return -1;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c >= 0x80)) {
            i++;
            continue;
        }
        size_t k = 0;
        while (i < len) {
            c = (unsigned char)s[i];
            if (isalnum(c) || c >= 0x80) {
                buf[k++] = (char)tolower(c);
                i++;
            } else if ((c == '-' || c == '\'' || c == '.') && i + 1 < len &&
                       (isalnum((unsigned char)s[i + 1]) || (unsigned char)s[i + 1] >= 0x80)) {
                buf[k++] = (char)c;
                i++;
            } else {
                break;
            }
        }
        buf[k] = '\0';
        if (k >= 2 && !strcmp(buf + k - 2, "'s")) buf[k -= 2] = '\0';
        if (k == 0) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nv = realloc(v, sizeof *nv * (size_t)cap);
            if (!nv) goto oom;
            v = nv;
        }
        if (!(v[n] = malloc(k + 8))) goto oom; /* room for singularize() to grow it */
        memcpy(v[n], buf, k + 1);
        n++;
    }
    free(buf);
    *out = v;
    *n_out = n;
    return 0;
oom:
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
    free(buf);
    return -1;
}

static int syn_cmp(const void *a, const void *b) {
    return strcmp(((const syn *)a)->word, ((const syn *)b)->word);
}

static int syn_find(const graft_chair *c, const char *w) {
    syn key = {(char *)w, 0, 0};
    const syn *s = bsearch(&key, c->syns, (size_t)c->n_syn, sizeof *c->syns, syn_cmp);
    return s ? s->obj : -1;
}

/* The object indices a caption mentions (chair.py caption_to_words' node_words). */
static int caption_objs(const graft_chair *c, const char *caption, int **objs, int *n_objs) {
    char **w;
    int n;
    *objs = NULL;
    *n_objs = 0;
    if (tokenize(caption ? caption : "", &w, &n)) return -1;
    for (int i = 0; i < n; i++) singularize(w[i]);
    /* double words, left to right: a merged pair consumes both words */
    const char **m = malloc(sizeof *m * (size_t)(n ? n : 1));
    int *o = malloc(sizeof *o * (size_t)(n ? n : 1));
    int nm = 0, rc = 0;
    if (!m || !o) {
        rc = -1;
        goto done;
    }
    char pair[256];
    for (int i = 0; i < n;) {
        const char *j = i + 1 < n ? merge_pair(w[i], w[i + 1], pair, sizeof pair) : NULL;
        if (j) {
            m[nm++] = j;
            i += 2;
        } else {
            m[nm++] = w[i++];
        }
    }
    int toilet = 0, seat = 0;
    for (int i = 0; i < nm; i++) {
        toilet |= !strcmp(m[i], "toilet");
        seat |= !strcmp(m[i], "seat");
    }
    int k = 0;
    for (int i = 0; i < nm; i++) {
        if (toilet && seat && !strcmp(m[i], "seat")) continue;
        int ob = syn_find(c, m[i]);
        if (ob >= 0) o[k++] = ob;
    }
    *objs = o;
    *n_objs = k;
    o = NULL;
done:
    free(o);
    free(m);
    for (int i = 0; i < n; i++) free(w[i]);
    free(w);
    return rc;
}

/* ---- synonym list ------------------------------------------------------------------------- */

const char *graft_chair_default_synonyms(void) {
    const char *e = getenv("GRAFT_CHAIR_SYNONYMS");
    if (e && *e) return e;
    static const char *const cands[] = {"../shared/eval/chair/synonyms.txt",
                                        "eval/chair/synonyms.txt"};
    for (size_t i = 0; i < sizeof cands / sizeof *cands; i++)
        if (access(cands[i], R_OK) == 0) return cands[i];
    return NULL;
}

void graft_chair_free(graft_chair *c) {
    if (!c) return;
    for (int i = 0; c->objects && i < MAX_OBJ; i++) free(c->objects[i]); /* also a line cut short */
    free(c->objects);
    for (int i = 0; i < c->n_syn; i++) free(c->syns[i].word);
    free(c->syns);
    free(c->img);
    free(c);
}

static int add_syn(graft_chair *c, const char *w, size_t len, int obj, int *cap) {
    if (c->n_syn == *cap) {
        *cap = *cap ? *cap * 2 : 256;
        syn *v = realloc(c->syns, sizeof *v * (size_t)*cap);
        if (!v) return -1;
        c->syns = v;
    }
    char *s = strndup(w, len);
    if (!s) return -1;
    c->syns[c->n_syn] = (syn){s, obj, c->n_syn};
    c->n_syn++;
    return 0;
}

int graft_chair_new(const char *path, graft_chair **out, graft_error *err) {
    *out = NULL;
    if (!path) path = graft_chair_default_synonyms();
    if (!path) return graft_error_set(err, GRAFT_E_NOTFOUND, "CHAIR: no synonym list given");
    FILE *f = fopen(path, "rb");
    if (!f) return graft_error_set(err, GRAFT_E_IO, "%s: cannot open: %s", path, strerror(errno));
    graft_chair *c = calloc(1, sizeof *c);
    char line[8192];
    int cap = 0, lineno = 0, rc = GRAFT_OK;
    if (!c || !(c->objects = calloc(MAX_OBJ, sizeof *c->objects))) goto oom;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        /* s.strip().split(', ') */
        char *p = line, *e = line + strlen(line);
        while (p < e && isspace((unsigned char)*p)) p++;
        while (e > p && isspace((unsigned char)e[-1])) e--;
        if (p == e) continue; /* the script's splitlines of a leading/trailing newline */
        if (c->n_obj == MAX_OBJ) {
            rc = graft_error_set(err, GRAFT_E_LIMIT, "%s:%d: more than %d objects", path, lineno, MAX_OBJ);
            goto fail;
        }
        int obj = c->n_obj;
        for (char *q = p;;) {
            char *sep = NULL;
            for (char *t = q; t + 1 < e; t++)
                if (t[0] == ',' && t[1] == ' ') {
                    sep = t;
                    break;
                }
            char *we = sep ? sep : e;
            if (q == p && !(c->objects[obj] = strndup(q, (size_t)(we - q)))) goto oom;
            if (add_syn(c, q, (size_t)(we - q), obj, &cap)) goto oom;
            if (!sep) break;
            q = sep + 2;
        }
        c->n_obj++;
    }
    if (ferror(f)) {
        rc = graft_error_set(err, GRAFT_E_IO, "%s: read error", path);
        goto fail;
    }
    if (c->n_obj == 0) {
        rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: no objects", path);
        goto fail;
    }
    /* sort by word, then keep the last of equal words in file order (later lines win) */
    qsort(c->syns, (size_t)c->n_syn, sizeof *c->syns, syn_cmp);
    int k = 0;
    for (int i = 0; i < c->n_syn; i++) {
        if (k > 0 && !strcmp(c->syns[k - 1].word, c->syns[i].word)) {
            if (c->syns[i].seq > c->syns[k - 1].seq) {
                free(c->syns[k - 1].word);
                c->syns[k - 1] = c->syns[i];
            } else {
                free(c->syns[i].word);
            }
            continue;
        }
        c->syns[k++] = c->syns[i];
    }
    c->n_syn = k;
    fclose(f);
    *out = c;
    return GRAFT_OK;
oom:
    rc = NOMEM(err);
fail:
    fclose(f);
    graft_chair_free(c);
    return rc;
}

/* ---- ground truth ------------------------------------------------------------------------- */

static uint64_t hash_id(long long id) {
    uint64_t x = (uint64_t)id * 0x9E3779B97F4A7C15ULL;
    return x ^ (x >> 29);
}

static gt_image *img_find(const graft_chair *c, long long id) {
    if (!c->cap_img) return NULL;
    for (size_t h = hash_id(id) & (c->cap_img - 1);; h = (h + 1) & (c->cap_img - 1)) {
        if (c->img[h].id == id) return &c->img[h];
        if (c->img[h].id == -1) return NULL;
    }
}

static gt_image *img_get(graft_chair *c, long long id) {
    gt_image *g = img_find(c, id);
    if (g) return g;
    if (2 * (c->n_img + 1) > c->cap_img) {
        size_t cap = c->cap_img ? c->cap_img * 2 : 256;
        gt_image *v = malloc(sizeof *v * cap);
        if (!v) return NULL;
        for (size_t i = 0; i < cap; i++) v[i].id = -1;
        for (size_t i = 0; i < c->cap_img; i++) {
            if (c->img[i].id == -1) continue;
            size_t h = hash_id(c->img[i].id) & (cap - 1);
            while (v[h].id != -1) h = (h + 1) & (cap - 1);
            v[h] = c->img[i];
        }
        free(c->img);
        c->img = v;
        c->cap_img = cap;
    }
    size_t h = hash_id(id) & (c->cap_img - 1);
    while (c->img[h].id != -1) h = (h + 1) & (c->cap_img - 1);
    c->img[h] = (gt_image){id, {0}};
    c->n_img++;
    return &c->img[h];
}

int graft_chair_has_image(const graft_chair *c, long long id) { return img_find(c, id) != NULL; }

int graft_chair_add_object(graft_chair *c, long long id, const char *name, graft_error *err) {
    if (!c || !name || id < 0) return graft_error_set(err, GRAFT_E_INVALID, "CHAIR: bad argument");
    int o = syn_find(c, name);
    if (o < 0) return graft_error_set(err, GRAFT_E_FORMAT, "CHAIR: \"%s\" is not in the synonym list", name);
    gt_image *g = img_get(c, id);
    if (!g) return NOMEM(err);
    g->objs[o / 64] |= 1ULL << (o % 64);
    return GRAFT_OK;
}

int graft_chair_add_caption(graft_chair *c, long long id, const char *caption, graft_error *err) {
    if (!c || !caption || id < 0) return graft_error_set(err, GRAFT_E_INVALID, "CHAIR: bad argument");
    int *o, n;
    if (caption_objs(c, caption, &o, &n)) return NOMEM(err);
    gt_image *g = img_get(c, id);
    if (!g) {
        free(o);
        return NOMEM(err);
    }
    for (int i = 0; i < n; i++) g->objs[o[i] / 64] |= 1ULL << (o[i] % 64);
    free(o);
    return GRAFT_OK;
}

static int json_ll(const cJSON *v, long long *out) {
    if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 9e18 &&
        v->valuedouble == (double)(long long)v->valuedouble) {
        *out = (long long)v->valuedouble;
        return 0;
    }
    if (cJSON_IsString(v)) {
        *out = graft_chair_image_key(v->valuestring, NULL);
        return *out < 0 ? -1 : 0;
    }
    return -1;
}

/* COCO instances or captions JSON document */
static int add_coco_doc(graft_chair *c, const char *path, cJSON *doc, graft_error *err) {
    const cJSON *anns = cJSON_GetObjectItemCaseSensitive(doc, "annotations");
    const cJSON *cats = cJSON_GetObjectItemCaseSensitive(doc, "categories");
    if (!cJSON_IsArray(anns))
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: no \"annotations\" array", path);
    int i = 0, rc = GRAFT_OK;
    for (const cJSON *a = anns->child; a && !rc; a = a->next, i++) {
        long long id;
        if (json_ll(cJSON_GetObjectItemCaseSensitive(a, "image_id"), &id))
            return graft_error_set(err, GRAFT_E_FORMAT, "%s: annotations[%d]: bad \"image_id\"", path, i);
        const cJSON *cap = cJSON_GetObjectItemCaseSensitive(a, "caption");
        const cJSON *cid = cJSON_GetObjectItemCaseSensitive(a, "category_id");
        if (cJSON_IsString(cap)) {
            rc = graft_chair_add_caption(c, id, cap->valuestring, err);
        } else if (cJSON_IsNumber(cid) && cJSON_IsArray(cats)) {
            const char *name = NULL;
            for (const cJSON *k = cats->child; k && !name; k = k->next) {
                const cJSON *kid = cJSON_GetObjectItemCaseSensitive(k, "id");
                const cJSON *kn = cJSON_GetObjectItemCaseSensitive(k, "name");
                if (cJSON_IsNumber(kid) && kid->valuedouble == cid->valuedouble && cJSON_IsString(kn))
                    name = kn->valuestring;
            }
            if (!name)
                return graft_error_set(err, GRAFT_E_FORMAT, "%s: annotations[%d]: category_id %g is not in \"categories\"",
                                       path, i, cid->valuedouble);
            rc = graft_chair_add_object(c, id, name, err);
        } else {
            return graft_error_set(err, GRAFT_E_FORMAT,
                                   "%s: annotations[%d]: neither \"caption\" nor \"category_id\"", path, i);
        }
    }
    return rc;
}

/* caps_boxes JSONL: {"id", "captions": [...], "instances": [{"category"}]} */
static int add_jsonl(graft_chair *c, const char *path, const char *text, graft_error *err) {
    int lineno = 0, rc = GRAFT_OK;
    for (const char *p = text; *p && !rc;) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        lineno++;
        const char *q = p;
        p = e ? e + 1 : p + n;
        size_t k = 0;
        while (k < n && isspace((unsigned char)q[k])) k++;
        if (k == n) continue;
        cJSON *o = cJSON_ParseWithLength(q, n);
        long long id;
        const cJSON *caps = cJSON_GetObjectItemCaseSensitive(o, "captions");
        const cJSON *ins = cJSON_GetObjectItemCaseSensitive(o, "instances");
        if (!o || json_ll(cJSON_GetObjectItemCaseSensitive(o, "id"), &id)) {
            rc = graft_error_set(err, GRAFT_E_FORMAT, "%s:%d: not an object with an image \"id\"", path, lineno);
        } else {
            gt_image *g = img_get(c, id); /* an image with no objects is ground truth too */
            if (!g) rc = NOMEM(err);
            for (const cJSON *x = cJSON_IsArray(ins) ? ins->child : NULL; x && !rc; x = x->next) {
                const cJSON *cat = cJSON_GetObjectItemCaseSensitive(x, "category");
                if (!cJSON_IsString(cat))
                    rc = graft_error_set(err, GRAFT_E_FORMAT, "%s:%d: an instance without \"category\"", path, lineno);
                else
                    rc = graft_chair_add_object(c, id, cat->valuestring, err);
            }
            for (const cJSON *x = cJSON_IsArray(caps) ? caps->child : NULL; x && !rc; x = x->next)
                if (cJSON_IsString(x)) rc = graft_chair_add_caption(c, id, x->valuestring, err);
        }
        cJSON_Delete(o);
    }
    return rc;
}

int graft_chair_add_ground_truth(graft_chair *c, const char *path, graft_error *err) {
    if (!c || !path) return graft_error_set(err, GRAFT_E_INVALID, "CHAIR: NULL argument");
    FILE *f = fopen(path, "rb");
    if (!f) return graft_error_set(err, GRAFT_E_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *t = malloc(cap);
    while (t) {
        n += fread(t + n, 1, cap - n - 1, f);
        if (n + 1 < cap) break;
        char *nt = realloc(t, cap *= 2);
        if (!nt) {
            free(t);
            t = NULL;
        } else {
            t = nt;
        }
    }
    fclose(f);
    if (!t) return NOMEM(err);
    t[n] = '\0';
    int rc;
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithLengthOpts(t, n, &end, 0);
    while (doc && end && *end && isspace((unsigned char)*end)) end++;
    if (doc && end && *end == '\0' && cJSON_IsObject(doc) &&
        cJSON_GetObjectItemCaseSensitive(doc, "annotations"))
        rc = add_coco_doc(c, path, doc, err);
    else
        rc = add_jsonl(c, path, t, err);
    cJSON_Delete(doc);
    free(t);
    return rc;
}

/* ---- scoring ------------------------------------------------------------------------------ */

int graft_chair_caption_objects(const graft_chair *c, const char *caption, const char ***objs,
                                int *n, graft_error *err) {
    int *o;
    *objs = NULL;
    *n = 0;
    if (caption_objs(c, caption, &o, n)) return NOMEM(err);
    const char **v = malloc(sizeof *v * (size_t)(*n ? *n : 1));
    if (!v) {
        free(o);
        return NOMEM(err);
    }
    for (int i = 0; i < *n; i++) v[i] = c->objects[o[i]];
    free(o);
    *objs = v;
    return GRAFT_OK;
}

int graft_chair_score(const graft_chair *c, const long long *ids, const char *const *caps,
                      size_t n, graft_chair_result *r, graft_error *err) {
    memset(r, 0, sizeof *r);
    if (!c || (n && (!ids || !caps))) return graft_error_set(err, GRAFT_E_INVALID, "CHAIR: NULL argument");
    for (size_t i = 0; i < n; i++) {
        int *o, k;
        if (caption_objs(c, caps[i], &o, &k)) return NOMEM(err);
        const gt_image *g = img_find(c, ids[i]);
        r->n_no_ground_truth += g == NULL;
        int hall = 0;
        for (int j = 0; j < k; j++) {
            int in_gt = g && (g->objs[o[j] / 64] >> (o[j] % 64) & 1);
            r->n_hallucinated += !in_gt;
            hall |= !in_gt;
        }
        r->n_mentions += (size_t)k;
        r->n_hallucinated_caps += (size_t)hall;
        r->n_captions++;
        free(o);
    }
    r->chair_s = r->n_captions ? (double)r->n_hallucinated_caps / (double)r->n_captions : 0.0;
    r->chair_i = r->n_mentions ? (double)r->n_hallucinated / (double)r->n_mentions : 0.0;
    return GRAFT_OK;
}

long long graft_chair_image_key(const char *id, const char *image_path) {
    if (id && *id) {
        const char *p = id;
        while (*p >= '0' && *p <= '9') p++;
        if (*p == '\0' && p - id <= 18) return atoll(id);
    }
    if (!image_path) return -1;
    const char *end = NULL, *start = NULL;
    for (const char *p = image_path; *p; p++) /* the last run of digits */
        if (*p >= '0' && *p <= '9') {
            if (!(p > image_path && p[-1] >= '0' && p[-1] <= '9')) start = p;
            end = p + 1;
        }
    if (!start || end - start > 18) return -1;
    char buf[20];
    memcpy(buf, start, (size_t)(end - start));
    buf[end - start] = '\0';
    return atoll(buf);
}
