#include "util/strmap.h"

#include <stdlib.h>
#include <string.h>

struct o8_strmap_slot {
	const char *key;
	void *val;
	uint64_t hash;
};

uint64_t o8_strhash(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static int grow(struct o8_strmap *m)
{
	size_t cap = m->cap ? m->cap * 2 : 64, i;
	struct o8_strmap_slot *s = calloc(cap, sizeof(*s));

	if (!s)
		return -1;
	for (i = 0; i < m->cap; i++) {
		size_t j;
		if (!m->slots[i].key)
			continue;
		for (j = m->slots[i].hash & (cap - 1); s[j].key; j = (j + 1) & (cap - 1))
			;
		s[j] = m->slots[i];
	}
	free(m->slots);
	m->slots = s;
	m->cap = cap;
	return 0;
}

int o8_strmap_put(struct o8_strmap *m, const char *key, void *val, void **old)
{
	uint64_t h = o8_strhash(key, strlen(key));
	size_t j;

	if ((m->n + 1) * 4 > m->cap * 3 && grow(m))
		return -1;
	for (j = h & (m->cap - 1); m->slots[j].key; j = (j + 1) & (m->cap - 1))
		if (m->slots[j].hash == h && !strcmp(m->slots[j].key, key)) {
			if (old)
				*old = m->slots[j].val;
			return 1;
		}
	m->slots[j].key = key;
	m->slots[j].val = val;
	m->slots[j].hash = h;
	m->n++;
	return 0;
}

void *o8_strmap_get(const struct o8_strmap *m, const char *key)
{
	uint64_t h;
	size_t j;

	if (!m->cap)
		return NULL;
	h = o8_strhash(key, strlen(key));
	for (j = h & (m->cap - 1); m->slots[j].key; j = (j + 1) & (m->cap - 1))
		if (m->slots[j].hash == h && !strcmp(m->slots[j].key, key))
			return m->slots[j].val;
	return NULL;
}

int o8_strmap_next(const struct o8_strmap *m, size_t *it, const char **key,
		   void **val)
{
	for (; *it < m->cap; (*it)++)
		if (m->slots[*it].key) {
			*key = m->slots[*it].key;
			if (val)
				*val = m->slots[*it].val;
			(*it)++;
			return 1;
		}
	return 0;
}

void o8_strmap_free(struct o8_strmap *m)
{
	free(m->slots);
	m->slots = NULL;
	m->cap = m->n = 0;
}
