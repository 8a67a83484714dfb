/* world_write.c - the files of `graft world` (world.h, docs/world.md): PNG images (stb_image_write
 * from Debian's libstb-dev, compiled in here and static), the ground truth as scenes.jsonl, and
 * every task as graft eval JSONL (docs/eval.md, "Task format"). Files are written as NAME.tmp and
 * renamed when complete. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define GRAFT_WORLD_INTERNAL
#include "error.h"
#include "world.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC /* no stbi_write_* symbol leaves libgraft */
#define STBI_WRITE_NO_STDIO    /* files are written here, so errors can name them */
#if defined(__GNUC__)
/* stb declares static functions it never defines with STBI_WRITE_NO_STDIO (stbi_write_hdr_to_func
 * ...); gcc reports those at the end of the file, after a pop, so this one stays off file-wide */
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#endif
#include <stb/stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

/* ---- output files ------------------------------------------------------------------------- */

/* A file being written: path.tmp until out_close renames it to path. */
typedef struct {
    FILE *f;
    char path[4096], tmp[4200];
} out_file;

static int out_open(out_file *o, const char *dir, const char *name, graft_error *err) {
    memset(o, 0, sizeof *o);
    if (snprintf(o->path, sizeof o->path, "%s/%s", dir, name) >= (int)sizeof o->path)
        return graft_error_set(err, GRAFT_E_INVALID, "%s/%s: path too long", dir, name);
    snprintf(o->tmp, sizeof o->tmp, "%s.tmp", o->path);
    if (!(o->f = fopen(o->tmp, "wb")))
        return graft_error_set(err, GRAFT_E_IO, "%s: %s", o->tmp, strerror(errno));
    return GRAFT_OK;
}

/* Closes and renames; on failure (or when rc is already an error) removes the .tmp file. */
static int out_close(out_file *o, int rc, graft_error *err) {
    if (!o->f) return rc;
    int bad = ferror(o->f);
    int e = errno;
    if (fclose(o->f) != 0 && !bad) bad = 1, e = errno;
    o->f = NULL;
    if (rc == GRAFT_OK && bad) rc = graft_error_set(err, GRAFT_E_IO, "%s: %s", o->tmp, strerror(e));
    if (rc == GRAFT_OK && rename(o->tmp, o->path) != 0)
        rc = graft_error_set(err, GRAFT_E_IO, "%s: %s", o->path, strerror(errno));
    if (rc != GRAFT_OK) remove(o->tmp);
    return rc;
}

static void png_sink(void *ctx, void *data, int size) {
    fwrite(data, 1, (size_t)size, (FILE *)ctx); /* errors show up in ferror at out_close */
}

static int write_png(const char *dir, const char *name, const unsigned char *rgb, int side,
                     graft_error *err) {
    out_file o;
    int rc = out_open(&o, dir, name, err);
    if (rc) return rc;
    if (!stbi_write_png_to_func(png_sink, o.f, side, side, 3, rgb, side * 3))
        rc = graft_error_set(err, GRAFT_E_NOMEM, "%s: cannot encode the PNG (out of memory)",
                             o.path);
    return out_close(&o, rc, err);
}

/* ---- JSON --------------------------------------------------------------------------------- */

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p == '\n') fputs("\\n", f);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

static void json_strs(FILE *f, char *const *v, int n) {
    fputc('[', f);
    for (int i = 0; i < n; i++) {
        if (i) fputs(", ", f);
        json_str(f, v[i]);
    }
    fputc(']', f);
}

/* One graft eval JSONL line (keys in the order of docs/eval.md's table). */
static void write_sample(FILE *f, const graft_eval_sample *s) {
    fputs("{\"id\": ", f);
    json_str(f, s->id);
    fputs(", \"type\": ", f);
    json_str(f, graft_task_name(s->type));
    fputs(", \"image\": ", f);
    json_str(f, s->images[0]);
    if (s->question) {
        fputs(", \"question\": ", f);
        json_str(f, s->question);
    }
    if (s->n_choices) {
        fputs(", \"choices\": ", f);
        json_strs(f, s->choices, s->n_choices);
    }
    if (s->type == GRAFT_TASK_MCQ || s->type == GRAFT_TASK_YESNO) {
        fputs(", \"answer\": ", f);
        json_str(f, s->answers[0]);
    } else {
        fputs(", \"answers\": ", f);
        json_strs(f, s->answers, s->n_answers);
    }
    if (s->category) {
        fputs(", \"category\": ", f);
        json_str(f, s->category);
    }
    fputs("}\n", f);
}

static void write_scene(FILE *f, const graft_world_scene *s, const char *id, const char *image) {
    fprintf(f, "{\"id\": \"%s\", \"image\": \"%s\", \"side\": %d, \"objects\": [", id, image,
            s->side);
    for (int i = 0; i < s->n; i++) {
        const graft_world_object *o = &s->obj[i];
        fprintf(f,
                "%s{\"shape\": \"%s\", \"color\": \"%s\", \"size\": \"%s\", \"cell\": \"%s\", "
                "\"row\": %d, \"col\": %d, \"x\": %d, \"y\": %d, \"r\": %d}",
                i ? ", " : "", graft_world_shape_name(o->shape), graft_world_color_name(o->color),
                graft_world_size_name(o->size), graft_world_cell_name(o->row, o->col), o->row,
                o->col, o->x, o->y, o->r);
    }
    fputs("]}\n", f);
}

/* ---- the world on disk -------------------------------------------------------------------- */

static int make_dir(const char *path, graft_error *err) {
    struct stat st;
    if (mkdir(path, 0777) == 0) return GRAFT_OK;
    if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return GRAFT_OK;
    if (errno == EEXIST) errno = ENOTDIR;
    return graft_error_set(err, GRAFT_E_IO, "%s: %s", path, strerror(errno));
}

/* the JSONL files, in the order they are written */
enum { F_SCENES, F_CAPTION, F_VQA, F_MCQ, F_POPE_RANDOM, F_POPE_POPULAR, F_POPE_ADVERSARIAL,
       F_OPEN, F_COUNT };
static const char *const file_names[F_COUNT] = {
    "scenes.jsonl",       "caption.jsonl",      "vqa.jsonl",
    "mcq.jsonl",          "pope_random.jsonl",  "pope_popular.jsonl",
    "pope_adversarial.jsonl", "open.jsonl"};
static const graft_task_type file_task[F_COUNT] = {
    GRAFT_TASK_COUNT, GRAFT_TASK_CAPTION, GRAFT_TASK_VQA,   GRAFT_TASK_MCQ,
    GRAFT_TASK_YESNO, GRAFT_TASK_YESNO,   GRAFT_TASK_YESNO, GRAFT_TASK_OPEN};

int graft_world_write(const char *dir, uint64_t seed, int n, const graft_world_params *p,
                      graft_world_summary *summary, graft_error *err) {
    if (!dir || !*dir || !p || n < 0 || n > 999999)
        return graft_error_set(err, GRAFT_E_INVALID, "world: bad argument (n = %d, at most 999999)",
                               n);
    graft_world_scene probe;
    int rc = graft_world_scene_make(seed, 0, p, &probe, err); /* checks the params */
    if (rc) return rc;
    char images[4096];
    if (snprintf(images, sizeof images, "%s/images", dir) >= (int)sizeof images)
        return graft_error_set(err, GRAFT_E_INVALID, "%s: path too long", dir);
    if ((rc = make_dir(dir, err)) || (rc = make_dir(images, err))) return rc;

    graft_world_summary sum;
    memset(&sum, 0, sizeof sum);
    graft_world_scene *scenes = malloc(((size_t)n + 1) * sizeof *scenes);
    unsigned char *rgb = malloc((size_t)p->side * p->side * 3);
    graft_world_pope_stats *st = malloc(sizeof *st);
    if (!scenes || !rgb || !st) {
        rc = graft_error_set(err, GRAFT_E_NOMEM, "world: out of memory for %d scenes", n);
        goto done;
    }
    graft_world_pope_init(st, p->max_shapes);
    for (int i = 0; i < n && !rc; i++) {
        char name[32];
        rc = graft_world_scene_make(seed, (uint64_t)i, p, &scenes[i], err);
        if (rc) break;
        graft_world_pope_add(st, &scenes[i]);
        graft_world_render(&scenes[i], rgb);
        snprintf(name, sizeof name, "%06d.png", i);
        rc = write_png(images, name, rgb, p->side, err);
        sum.n_images += !rc;
    }
    graft_world_pope_finish(st);

    for (int fi = 0; fi < F_COUNT && !rc; fi++) {
        out_file o;
        if ((rc = out_open(&o, dir, file_names[fi], err))) break;
        graft_eval_dataset ds;
        memset(&ds, 0, sizeof ds);
        for (int i = 0; i < n && !rc; i++) {
            char id[16], image[32];
            snprintf(id, sizeof id, "%06d", i);
            snprintf(image, sizeof image, "images/%06d.png", i);
            if (fi == F_SCENES) {
                write_scene(o.f, &scenes[i], id, image);
                continue;
            }
            if (fi >= F_POPE_RANDOM && fi <= F_POPE_ADVERSARIAL)
                rc = graft_world_pope(&scenes[i], st,
                                      (graft_world_pope_setting)(fi - F_POPE_RANDOM), seed,
                                      (uint64_t)i, image, &ds, err);
            else rc = graft_world_texts(&scenes[i], seed, (uint64_t)i, image, file_task[fi], &ds, err);
            for (size_t k = 0; k < ds.n && !rc; k++) write_sample(o.f, &ds.samples[k]);
            if (!rc) sum.n_samples[file_task[fi]] += ds.n;
            graft_eval_dataset_free(&ds);
            if (!rc && ferror(o.f)) break; /* out_close reports it */
        }
        rc = out_close(&o, rc, err);
    }
done:
    free(scenes);
    free(rgb);
    free(st);
    if (summary) *summary = sum;
    return rc;
}
