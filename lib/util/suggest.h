/*
 * suggest.h - "did you mean ...?" for misspelt names.
 */
#ifndef O8_SUGGEST_H
#define O8_SUGGEST_H

#include <stddef.h>

/*
 * Returns the candidate closest to word (case-insensitive edit distance,
 * a case-only difference counting as the closest), or NULL when none is
 * within a distance that a typo explains (about a third of the length, at
 * most 3).  cands[i] may be NULL (skipped).  The result is borrowed from
 * cands.
 */
const char *o8_suggest(const char *word, const char *const *cands, size_t n);

#endif
