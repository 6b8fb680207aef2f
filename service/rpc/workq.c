/* The handler thread pool: a mutex-protected FIFO list and a condition variable. */
#include "workq.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

typedef struct job {
  tm_job_fn fn;
  void *arg;
  struct job *next;
} job;

struct tm_workq {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  job *head, *tail;
  size_t queued, max_queued;
  bool stopping;
  size_t n_threads;
  pthread_t *threads;
};

static void *worker(void *arg) {
  tm_workq *q = arg;
  pthread_mutex_lock(&q->mu);
  for (;;) {
    while (!q->head && !q->stopping) pthread_cond_wait(&q->cv, &q->mu);
    job *j = q->head;
    if (!j) break; /* stopping and drained */
    q->head = j->next;
    if (!q->head) q->tail = NULL;
    q->queued--;
    pthread_mutex_unlock(&q->mu);
    j->fn(j->arg);
    free(j);
    pthread_mutex_lock(&q->mu);
  }
  pthread_mutex_unlock(&q->mu);
  return NULL;
}

tm_workq *tm_workq_new(size_t threads, size_t max_queued) {
  tm_workq *q = calloc(1, sizeof *q);
  q->max_queued = max_queued;
  pthread_mutex_init(&q->mu, NULL);
  pthread_cond_init(&q->cv, NULL);
  q->threads = calloc(threads, sizeof *q->threads);
  for (size_t i = 0; i < threads; i++) {
    if (pthread_create(&q->threads[i], NULL, worker, q) == 0) q->n_threads++;
  }
  return q;
}

bool tm_workq_push(tm_workq *q, tm_job_fn fn, void *arg) {
  pthread_mutex_lock(&q->mu);
  if (q->max_queued && q->queued >= q->max_queued) {
    pthread_mutex_unlock(&q->mu);
    return false;
  }
  job *j = malloc(sizeof *j);
  *j = (job){.fn = fn, .arg = arg};
  q->queued++;
  if (q->tail)
    q->tail->next = j;
  else
    q->head = j;
  q->tail = j;
  pthread_cond_signal(&q->cv);
  pthread_mutex_unlock(&q->mu);
  return true;
}

void tm_workq_destroy(tm_workq *q) {
  if (!q) return;
  pthread_mutex_lock(&q->mu);
  q->stopping = true;
  pthread_cond_broadcast(&q->cv);
  pthread_mutex_unlock(&q->mu);
  for (size_t i = 0; i < q->n_threads; i++) pthread_join(q->threads[i], NULL);
  pthread_mutex_destroy(&q->mu);
  pthread_cond_destroy(&q->cv);
  free(q->threads);
  free(q);
}
