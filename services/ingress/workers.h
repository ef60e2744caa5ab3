/* The dispatcher's book of workers: who is connected, how many tasks each may be sent now
 * (credits), and who has fallen silent. Pure bookkeeping over a caller's clock, no I/O: the
 * dispatcher feeds it what arrives on its ROUTER (HELLO, CREDIT, any message as a sign of
 * life, BYE) and asks it where the next task goes.
 *
 * Credits are the only way to a task: a worker announces its free slots, each task sent
 * spends one, and a worker never holds more than the slots it announced. A worker that says
 * HELLO again (it restarted, or reconnected) starts from no credit: whatever it held before
 * belonged to a process that may be gone. A worker silent for longer than the timeout loses
 * its credits and its place; the items it held come back through their leases, not from
 * here. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue.h"

struct workers;

/* Most workers one dispatcher keeps track of. */
#define WORKERS_MAX 1024

/* A new, empty book; a worker silent for longer than silence_ms is dropped. */
struct workers *workers_new(uint64_t silence_ms);
void workers_free(struct workers *w);

/* HELLO from peer: (re)register it with its name and slots and no credit. -ENOSPC when the
 * book is full. */
int workers_hello(struct workers *w, const struct queue_peer *peer, const char *name,
                  uint32_t slots, uint64_t now_ms);
/* CREDIT n from peer: its credits grow by n, to at most its slots. -ENOENT for a peer that
 * never said HELLO (the dispatcher answers nothing; the worker will say HELLO when it
 * hears nothing back). */
int workers_credit(struct workers *w, const struct queue_peer *peer, uint32_t n, uint64_t now_ms);
/* Any message from peer: it is alive. Unknown peers are ignored. */
void workers_seen(struct workers *w, const struct queue_peer *peer, uint64_t now_ms);
/* BYE from peer, or a send to it failed: forget it. */
void workers_forget(struct workers *w, const struct queue_peer *peer);
/* Drop every worker silent for longer than the book's silence_ms; how many were dropped. */
size_t workers_expire(struct workers *w, uint64_t now_ms);

/* Spend one credit of the next worker holding any, in turn (round robin), and name it in
 * *ret_peer; false when no worker holds credit. */
bool workers_take(struct workers *w, struct queue_peer *ret_peer);
/* Give back a credit taken by workers_take() whose task could not be sent (-EAGAIN). */
void workers_untake(struct workers *w, const struct queue_peer *peer);

/* Call fn for every worker in the book, in turn order; fn must not change the book. */
typedef void (*workers_each_fn)(void *userdata, const struct queue_peer *peer);
void workers_each(const struct workers *w, workers_each_fn fn, void *userdata);
/* Whether peer is in the book. */
bool workers_known(const struct workers *w, const struct queue_peer *peer);

/* Slots announced by all workers together. */
uint64_t workers_slots(const struct workers *w);
/* Credits held by all workers together, and the number of workers. */
uint64_t workers_credits(const struct workers *w);
size_t workers_count(const struct workers *w);
/* A worker's credits, or -1 when it is not in the book (for tests and /metrics). */
long long workers_credits_of(const struct workers *w, const struct queue_peer *peer);
