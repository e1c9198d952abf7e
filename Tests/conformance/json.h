/* A small JSON reader for the golden fixtures (Tests/LossKitTests/Fixtures):
 * objects, arrays, numbers, strings (no escapes beyond \" and \\), true,
 * false, null. Enough for the fixture format; not a general parser. */
#ifndef LOSSKIT_CONFORMANCE_JSON_H
#define LOSSKIT_CONFORMANCE_JSON_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype;

typedef struct jnode {
    jtype type;
    double num;          /* J_NUM, J_BOOL */
    char *str;           /* J_STR */
    size_t n;            /* J_ARR, J_OBJ: entries */
    struct jnode **item; /* J_ARR, J_OBJ */
    char **key;          /* J_OBJ */
} jnode;

static const char *jp;

static void j_ws(void) { while (*jp == ' ' || *jp == '\n' || *jp == '\r' || *jp == '\t') jp++; }

static char *j_string(void) {
    jp++; /* opening quote */
    const char *s = jp;
    size_t len = 0;
    while (*jp && *jp != '"') { if (*jp == '\\' && jp[1]) jp++; jp++; len++; }
    char *out = malloc(len + 1), *o = out;
    for (const char *q = s; q < jp; q++) { if (*q == '\\') q++; *o++ = *q; }
    *o = 0;
    if (*jp == '"') jp++;
    return out;
}

static jnode *j_value(void) {
    j_ws();
    jnode *v = calloc(1, sizeof *v);
    if (*jp == '{' || *jp == '[') {
        const int obj = *jp == '{';
        const char close = obj ? '}' : ']';
        v->type = obj ? J_OBJ : J_ARR;
        jp++;
        size_t cap = 0;
        j_ws();
        while (*jp && *jp != close) {
            if (v->n == cap) {
                cap = cap ? 2 * cap : 8;
                v->item = realloc(v->item, cap * sizeof *v->item);
                if (obj) v->key = realloc(v->key, cap * sizeof *v->key);
            }
            if (obj) {
                j_ws();
                v->key[v->n] = j_string();
                j_ws();
                if (*jp == ':') jp++;
            }
            v->item[v->n++] = j_value();
            j_ws();
            if (*jp == ',') jp++;
            j_ws();
        }
        if (*jp) jp++;
    } else if (*jp == '"') {
        v->type = J_STR;
        v->str = j_string();
    } else if (strncmp(jp, "null", 4) == 0) {
        v->type = J_NULL;
        jp += 4;
    } else if (strncmp(jp, "true", 4) == 0) {
        v->type = J_BOOL, v->num = 1;
        jp += 4;
    } else if (strncmp(jp, "false", 5) == 0) {
        v->type = J_BOOL;
        jp += 5;
    } else {
        char *end;
        v->type = J_NUM;
        v->num = strtod(jp, &end);
        jp = end == jp ? jp + 1 : end;
    }
    return v;
}

static void j_free(jnode *v) {
    if (!v) return;
    for (size_t i = 0; i < v->n; i++) {
        j_free(v->item[i]);
        if (v->key) free(v->key[i]);
    }
    free(v->item);
    free(v->key);
    free(v->str);
    free(v);
}

static jnode *j_load(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    size_t got = fread(text, 1, (size_t)size, f);
    fclose(f);
    text[got] = 0;
    jp = text;
    jnode *root = j_value();
    free(text);
    return root;
}

static jnode *j_get(const jnode *o, const char *key) {
    if (!o || o->type != J_OBJ) return NULL;
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->key[i], key) == 0) return o->item[i];
    return NULL;
}

static double j_num(const jnode *o, const char *key, double fallback) {
    const jnode *v = j_get(o, key);
    return v && (v->type == J_NUM || v->type == J_BOOL) ? v->num : fallback;
}

static const char *j_str(const jnode *o, const char *key) {
    const jnode *v = j_get(o, key);
    return v && v->type == J_STR ? v->str : "";
}

/* A tensor {"shape": [...], "data": [...]}: its data as floats (null is NaN),
 * its element count in *n. NULL if absent or null. */
static float *j_floats(const jnode *tensor, size_t *n) {
    const jnode *d = j_get(tensor, "data");
    if (!d || d->type != J_ARR) { *n = 0; return NULL; }
    float *out = malloc((d->n ? d->n : 1) * sizeof *out);
    for (size_t i = 0; i < d->n; i++) out[i] = d->item[i]->type == J_NUM ? (float)d->item[i]->num : NAN;
    *n = d->n;
    return out;
}

static int64_t *j_ints(const jnode *tensor, size_t *n) {
    const jnode *d = j_get(tensor, "data");
    if (!d || d->type != J_ARR) { *n = 0; return NULL; }
    int64_t *out = malloc((d->n ? d->n : 1) * sizeof *out);
    for (size_t i = 0; i < d->n; i++) out[i] = (int64_t)d->item[i]->num;
    *n = d->n;
    return out;
}

/* shape[k] of a tensor, or 0 */
static size_t j_dim(const jnode *tensor, size_t k) {
    const jnode *s = j_get(tensor, "shape");
    return s && s->type == J_ARR && k < s->n ? (size_t)s->item[k]->num : 0;
}

#endif
