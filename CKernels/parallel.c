/* The one threading mechanism of LossKit: short-lived pthreads pulling task
 * indices from an atomic counter. Results never depend on which thread ran
 * which task, because every task writes only its own outputs. */
#include "internal.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

int lk_threads_for(int requested, size_t work_units, size_t min_units_per_thread) {
    int cap = losskit_max_threads(requested);
    if (min_units_per_thread == 0) min_units_per_thread = 1;
    size_t useful = work_units / min_units_per_thread;
    if (useful < 1) useful = 1;
    if ((size_t)cap > useful) cap = (int)useful;
    return cap < 1 ? 1 : cap;
}

typedef struct {
    _Atomic size_t next;
    size_t ntasks;
    lk_task_fn fn;
    void *ctx;
    lk_thread_settings settings; /* the calling thread's, for the workers */
} task_queue;

static void *run_tasks(task_queue *q) {
    for (;;) {
        size_t t = atomic_fetch_add_explicit(&q->next, 1, memory_order_relaxed);
        if (t >= q->ntasks) break;
        q->fn(q->ctx, t);
    }
    return NULL;
}

static void *worker(void *arg) {
    task_queue *q = arg;
    lk_thread_settings_apply(q->settings);
    return run_tasks(q);
}

int lk_parallel_for(size_t ntasks, int threads, lk_task_fn fn, void *ctx) {
    if (threads <= 1 || ntasks <= 1) {
        for (size_t t = 0; t < ntasks; t++) fn(ctx, t);
        return LOSSKIT_OK;
    }
    if ((size_t)threads > ntasks) threads = (int)ntasks;
    task_queue q = {.ntasks = ntasks, .fn = fn, .ctx = ctx, .settings = lk_thread_settings_get()};
    atomic_init(&q.next, 0);
    pthread_t ids[256];
    if (threads > 256) threads = 256;
    int started = 0;
    for (int i = 0; i < threads - 1; i++) {
        if (pthread_create(&ids[started], NULL, worker, &q) != 0) break;
        started++;
    }
    run_tasks(&q); /* the calling thread works too; it also finishes any task a missing thread would have taken */
    for (int i = 0; i < started; i++) pthread_join(ids[i], NULL);
    return LOSSKIT_OK;
}

typedef struct {
    size_t n, chunk;
    lk_range_sum_fn fn;
    void *ctx;
    double *partials;
} chunk_job;

static void run_chunk(void *arg, size_t c) {
    chunk_job *j = arg;
    size_t begin = c * j->chunk;
    size_t end = begin + j->chunk < j->n ? begin + j->chunk : j->n;
    j->partials[c] = j->fn(j->ctx, begin, end);
}

int lk_chunked_sum(size_t n, size_t chunk, int threads, lk_range_sum_fn fn, void *ctx, double *sum) {
    size_t nchunks = n == 0 ? 0 : (n - 1) / chunk + 1;
    double local[64];
    double *partials = nchunks <= 64 ? local : malloc(nchunks * sizeof(double));
    if (!partials) return LOSSKIT_ERR_NOMEM;
    chunk_job job = {.n = n, .chunk = chunk, .fn = fn, .ctx = ctx, .partials = partials};
    int status = lk_parallel_for(nchunks, threads, run_chunk, &job);
    double total = 0.0;
    for (size_t c = 0; c < nchunks; c++) total += partials[c];
    if (partials != local) free(partials);
    *sum = total;
    return status;
}

/* ---- per-thread scratch ---------------------------------------------------- */

enum { LK_SCRATCH_SLOTS = 2 };
typedef struct { void *block[LK_SCRATCH_SLOTS]; size_t bytes[LK_SCRATCH_SLOTS]; } scratch_set;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static int scratch_key_ok;

static void scratch_free(void *v) {
    scratch_set *s = v;
    for (int i = 0; i < LK_SCRATCH_SLOTS; i++) free(s->block[i]);
    free(s);
}

static void scratch_init(void) { scratch_key_ok = pthread_key_create(&scratch_key, scratch_free) == 0; }

void *lk_thread_scratch(int slot, size_t bytes) {
    pthread_once(&scratch_once, scratch_init);
    if (!scratch_key_ok || slot < 0 || slot >= LK_SCRATCH_SLOTS) return NULL;
    scratch_set *s = pthread_getspecific(scratch_key);
    if (!s) {
        s = calloc(1, sizeof(scratch_set));
        if (!s || pthread_setspecific(scratch_key, s) != 0) { free(s); return NULL; }
    }
    if (bytes == 0) bytes = 1;
    if (s->bytes[slot] < bytes) {
        free(s->block[slot]);
        s->block[slot] = malloc(bytes);
        s->bytes[slot] = s->block[slot] ? bytes : 0;
    }
    return s->block[slot];
}

void losskit_release_scratch(void) {
    pthread_once(&scratch_once, scratch_init);
    if (!scratch_key_ok) return;
    scratch_set *s = pthread_getspecific(scratch_key);
    if (!s) return;
    pthread_setspecific(scratch_key, NULL);
    scratch_free(s);
}
