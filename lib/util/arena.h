/*
 * arena.h - bump allocator: many allocations, one free.
 *
 * A loaded file's nodes and strings live in one arena so that releasing a
 * model is a handful of free() calls however many subscribers it holds.
 * Not thread-safe: each loader thread owns its own arena.
 */
#ifndef O8_ARENA_H
#define O8_ARENA_H

#include <stddef.h>

struct o8_arena_block;

struct o8_arena {
	struct o8_arena_block *head;
	size_t block_size;      /* size of the next fresh block */
	size_t used;            /* bytes handed out, for statistics */
};

#define O8_ARENA_INIT { NULL, 0, 0 }

/* Returns 8-byte aligned memory, or NULL when out of memory. */
void *o8_arena_alloc(struct o8_arena *a, size_t n);

/* Copies n bytes of s and NUL-terminates the copy. */
char *o8_arena_strndup(struct o8_arena *a, const char *s, size_t n);

/* Releases every block; the arena can be reused afterwards. */
void o8_arena_free(struct o8_arena *a);

#endif
