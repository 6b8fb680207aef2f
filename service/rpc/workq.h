/* A fixed pool of threads that runs queued jobs: where RPC handlers that may block on MongoDB run,
 * so completion-queue threads never wait on the database. */
#ifndef TM_RPC_WORKQ_H
#define TM_RPC_WORKQ_H

#include <stdbool.h>
#include <stddef.h>

typedef struct tm_workq tm_workq;
typedef void (*tm_job_fn)(void *arg);

/* max_queued: jobs waiting for a thread beyond which push refuses (0: no bound). */
tm_workq *tm_workq_new(size_t threads, size_t max_queued);
/* Queues fn(arg); jobs run in FIFO order on any pool thread. False, and nothing queued, when the
 * queue is full. */
bool tm_workq_push(tm_workq *q, tm_job_fn fn, void *arg);
/* Runs every queued job, joins the threads and frees the pool. */
void tm_workq_destroy(tm_workq *q);

#endif
