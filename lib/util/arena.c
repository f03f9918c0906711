#include "util/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct o8_arena_block {
	struct o8_arena_block *next;
	size_t size, off;
	_Alignas(max_align_t) unsigned char data[];
};

/* block sizes leave room for the header inside a 2 MiB multiple */
enum { ARENA_MIN = 64 * 1024 - 64, ARENA_MAX = 8 * 1024 * 1024 - 64 };

/*
 * Big blocks are 2 MiB aligned and marked for transparent huge pages: a
 * million-subscriber model touches ~500 MB, and faulting it in 4 KiB pages
 * costs more than parsing it.
 */
static struct o8_arena_block *block_new(size_t sz)
{
	enum { HUGE = 2 * 1024 * 1024 };
	struct o8_arena_block *b;
	size_t total = sizeof(*b) + sz;

	if (total < HUGE) {
		b = malloc(total);
	} else {
		/* use the whole rounded size: a huge page is faulted in whole */
		total = (total + HUGE - 1) & ~(size_t)(HUGE - 1);
		b = aligned_alloc(HUGE, total);
		if (b)
			madvise(b, total, MADV_HUGEPAGE);
	}
	if (b) {
		b->size = total - sizeof(*b);
		b->off = 0;
	}
	return b;
}

static void *alloc_aligned(struct o8_arena *a, size_t n, size_t align)
{
	struct o8_arena_block *b = a->head;
	size_t off = b ? (b->off + align - 1) & ~(align - 1) : 0;

	if (n > SIZE_MAX / 2)
		return NULL;
	if (!b || off > b->size || b->size - off < n) {
		size_t sz = a->block_size ? a->block_size : ARENA_MIN;
		if (sz < ARENA_MAX)
			a->block_size = sz * 2;  /* grow geometrically */
		if (sz < n)
			sz = n;
		b = block_new(sz);
		if (!b)
			return NULL;
		b->next = a->head;
		a->head = b;
		off = 0;
	}
	a->used += n;
	b->off = off + n;
	return b->data + off;
}

void *o8_arena_alloc(struct o8_arena *a, size_t n)
{
	return alloc_aligned(a, n, 8);
}

char *o8_arena_strndup(struct o8_arena *a, const char *s, size_t n)
{
	/* strings need no alignment: packing them saves ~10% of a model */
	char *p = alloc_aligned(a, n + 1, 1);

	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void o8_arena_free(struct o8_arena *a)
{
	struct o8_arena_block *b = a->head, *next;

	for (; b; b = next) {
		next = b->next;
		free(b);
	}
	a->head = NULL;
	a->block_size = 0;
	a->used = 0;
}
