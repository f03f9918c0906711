/*
 * agent.h - agwd's parts: the daemon (agwd.c: one AGW's connection to
 * syncd, or many with --simulate), enrolment and renewal (enroll.c), and
 * the KPIs it reports (kpi.c).
 */
#ifndef O8_AGENT_H
#define O8_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "util/err.h"
#include "proto/wire.h"

/*
 * Enrols with the one-time token at syncd's bootstrap port (url:
 * "https://HOST:PORT"), trusting only ca: makes dir/agw.key if missing,
 * sends a CSR, stores the certificate as dir/agw.crt (0600, atomically).
 * The token never appears in an error.
 */
enum o8_rc agent_enroll(const char *url, const char *ca, const char *dir,
			const char *token, struct o8_err *err);

/*
 * Renews dir/agw.crt: a CSR for the same key, authenticated by the
 * current certificate (TLS client auth).  Blocking: run it off the loop.
 */
enum o8_rc agent_renew(const char *url, const char *ca, const char *dir,
		       struct o8_err *err);

/* dir/agw.crt's identity and lifetime. */
enum o8_rc agent_identity(const char *dir, char **network, char **gateway,
			  time_t *not_before, time_t *not_after,
			  struct o8_err *err);

/*
 * KPIs for a StateReport: the host's real numbers (uptime, load, memory),
 * and with sim, made-up radio numbers that move a little with each call
 * (for demos: seed differs per AGW).  Returns how many were written to
 * out (at most max); names are static strings.
 */
size_t agent_kpis(struct o8_wire_kpi *out, size_t max, bool sim,
		  unsigned *seed);

#endif
