/*
 * strmap.h - string-keyed hash map (open addressing).
 *
 * Keys and values are borrowed: the caller keeps them alive as long as the
 * map.  Lookups on a map nobody modifies are safe from several threads.
 */
#ifndef O8_STRMAP_H
#define O8_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct o8_strmap {
	struct o8_strmap_slot *slots;
	size_t cap, n;          /* cap is a power of two */
};

#define O8_STRMAP_INIT { NULL, 0, 0 }

uint64_t o8_strhash(const char *s, size_t len);

/*
 * Inserts key -> val unless key is present.  *old (may be NULL) receives the
 * existing value when there is one, and the map is left unchanged.  Returns
 * 0 inserted, 1 already present, -1 out of memory.
 */
int o8_strmap_put(struct o8_strmap *m, const char *key, void *val, void **old);

/* The value for key, or NULL. */
void *o8_strmap_get(const struct o8_strmap *m, const char *key);

/*
 * Iteration: start with *it = 0; each call yields one entry and returns 1,
 * then 0 when done.  Order is unspecified.
 */
int o8_strmap_next(const struct o8_strmap *m, size_t *it, const char **key,
		   void **val);

void o8_strmap_free(struct o8_strmap *m);

#endif
