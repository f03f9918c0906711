/*
 * syncd.h - the parts of syncd and what they share.
 *
 *   main.c       command line, config (config.c), start-up, signals
 *   core.c       generations (one compiled commit each), the AGWs'
 *                connections, what each AGW is sent, the store
 *   api.c        the HTTP API's routes and their JSON
 *   bootstrap.c  the enrolment port
 *
 * Everything runs on one libuv loop thread, but git fetches and compiles,
 * which run in libuv's thread pool and hand a finished generation back to
 * the loop.  So the state below needs no locks.
 */
#ifndef O8_SYNCD_H
#define O8_SYNCD_H

#include <stdbool.h>
#include <stdint.h>

#include <gnutls/gnutls.h>
#include <uv.h>

#include "proto/conn.h"
#include "desired.h"
#include "util/err.h"
#include "httpd.h"
#include "metrics.h"
#include "proto/pki.h"
#include "store.h"
#include "util/log.h"
#include "util/strmap.h"

/* Replays of a signed webhook (its signature covers the body only) are
 * answered without a fetch: the last SYNCD_DELIVERIES X-GitHub-Delivery ids
 * are remembered; and however many arrive, webhooks start at most one fetch
 * per SYNCD_WEBHOOK_INTERVAL_MS. */
#define SYNCD_DELIVERIES 512
#define SYNCD_DELIVERY_MAX 64           /* a GitHub id is a 36-byte UUID */
#define SYNCD_WEBHOOK_INTERVAL_MS 1000

/* What core.c needs to run (main.c fills it from the config). */
struct syncd_opts {
	const char *listen;             /* southbound "HOST:PORT" */
	const char *api;                /* "HOST:PORT" */
	bool api_tls;
	const char *pki;                /* the PKI directory */
	const char *store;              /* store URL */
	const char *state_dir;          /* made (0700) at start */
	const char *repo_url, *repo_branch, *repo_dir;
	unsigned poll_s;                /* 0: webhook only */
	const uint8_t *webhook_secret;  /* NULL: webhooks refused */
	size_t webhook_secret_len;
	const char *api_tokens_file;
	size_t max_frame;
	struct o8_log *log;             /* borrowed; main.c sets its level */
};

/* A compiled commit, shared by every AGW that holds or is sent it. */
struct syncd_gen {
	struct o8_desired *d;
	uint64_t version;
	int refs;
	uint64_t arrived_ns;            /* uv_hrtime() when it was installed */
};

struct syncd_agent {
	char id[O8_PKI_GATEWAY_ID_MAX]; /* "network/gateway" */
	char network[O8_PKI_NAME_MAX], gateway[O8_PKI_NAME_MAX];
	struct syncd_link *link;        /* the live connection, NULL offline */
	bool hello_done;
	uint64_t applied_version;       /* what it holds (Hello, then Acks) */
	char applied_commit[O8_OID_HEX_SIZE];
	struct o8_wire_kind_digests kd; /* of what it holds */
	bool kd_known;
	struct syncd_gen *base;         /* the generation it holds, when known */
	struct syncd_gen *inflight;     /* sent, not answered yet */
	uint64_t inflight_ns;
	/* a DigestReply being received */
	bool awaiting_digests;
	uint32_t digest_kinds;
	struct o8_desired_have *have;
	size_t nhave, caphave;
	uint64_t failed_version;
	char *last_error;
	int64_t last_seen;              /* unix seconds */
	int64_t acked_at_ms;            /* unix milliseconds of the last ack */
	char *kpis;                     /* JSON object text of the last report */
	char *report_status;
	int64_t report_at;
	uint64_t bytes_sent;            /* over every connection */
	char *cert_serial;
	/* syncd's store knew it at start, or it acked a version since: syncd
	 * then knows every version it was issued, and a Hello claiming one
	 * above them is a lie, not a lost store */
	bool remembered;
};

_Static_assert(sizeof(((struct syncd_agent *)0)->id) >=
	       sizeof(((struct syncd_agent *)0)->network) +
	       sizeof(((struct syncd_agent *)0)->gateway),
	       "an agent's id holds its network, '/' and its gateway");

struct syncd {
	uv_loop_t *loop;
	struct syncd_opts opts;
	struct o8_store *store;
	struct o8_pki_trust *trust;
	gnutls_certificate_credentials_t creds;
	struct o8_conn_ctx cctx;
	uv_tcp_t listener;
	uint16_t listen_port;
	struct o8_httpd *api;
	struct o8_apitoken_set *tokens;
	struct o8_metrics *metrics;
	struct {
		struct o8_metric *connected, *in_sync, *desired_version,
			*push_latency, *bytes_sent, *frames_rejected,
			*fetch_ok, *fetch_error, *agws, *webhook_replays;
	} m;

	struct o8_strmap agents;        /* id -> struct syncd_agent */
	struct syncd_gen *cur, *prev;
	uint64_t max_version;           /* the highest version issued (or held by
					   a declared AGW after a lost store) */

	/* webhooks: the GitHub delivery ids seen last (a ring), and at most
	   one fetch per SYNCD_WEBHOOK_INTERVAL_MS, the rest coalesced */
	char deliveries[SYNCD_DELIVERIES][SYNCD_DELIVERY_MAX + 1];
	size_t delivery_next;
	uv_timer_t webhook_timer;
	uint64_t webhook_at_ms;         /* uv_now() of the last webhook fetch */
	bool webhook_fetched;

	/* the CRL: its directory watched, so a revocation closes the
	   revoked gateway's live connection at once (and on SIGHUP) */
	uv_fs_event_t pki_watch;
	char crl_path[4096];
	struct { int64_t mtime_ns, size; uint64_t ino; } crl_seen;

	/* fetching */
	uv_timer_t poll;
	uv_work_t work;
	bool fetching, fetch_again;
	char fetch_actor[64];
	struct o8_git *repo;            /* used by the worker only */
	uint64_t work_version;
	char work_commit[O8_OID_HEX_SIZE];
	struct o8_desired *work_gen;
	struct o8_err work_err;
	bool work_same, work_renumber;
	bool renumber;                  /* rebuild the commit with a new version */
	char work_cur_commit[O8_OID_HEX_SIZE], work_rejected[O8_OID_HEX_SIZE];
	uint64_t restored_version;      /* the store's newest desired version */
	char restored_commit[O8_OID_HEX_SIZE];       /* ... and its commit */
	char rejected_commit[O8_OID_HEX_SIZE];
	char *rejected_reason;
	int64_t fetched_at;

	bool ready, stopping;
	uv_signal_t sigterm, sigint, sighup;
};

/* The highest version syncd issues: JSON numbers (the API) and the store's
 * signed 64-bit integers hold it exactly, and max_version + 1 never wraps. */
#define SYNCD_VERSION_MAX ((UINT64_C(1) << 53) - 1)

/* A connection's link to its agent (known once its certificate passed). */
struct syncd_link {
	struct syncd *s;
	struct o8_conn *conn;
	struct syncd_agent *a;
};

/* core.c */
enum o8_rc syncd_start(struct syncd *s, struct o8_err *err);
void syncd_stop(struct syncd *s);
/* After the loop ended: frees what syncd_start made. */
void syncd_free(struct syncd *s);
void syncd_fetch(struct syncd *s, const char *actor);
/*
 * A signed webhook arrived with delivery id (NULL or empty: none).  Returns
 * false for a replay (an id seen lately: nothing is done, it is counted);
 * otherwise a fetch follows, now or coalesced with the one pending.
 */
bool syncd_webhook(struct syncd *s, const char *delivery);
/* After a config reload changed s->opts: poll interval, webhook secret,
 * API tokens, repository.  Listeners and the store keep their start-up
 * values until a restart (logged). */
void syncd_apply_opts(struct syncd *s);
/* Re-reads the CRL when it changed (always with force) and closes, at once
 * and sending nothing more, every connection whose certificate no longer
 * passes. */
void syncd_crl_check(struct syncd *s, bool force);
/* Appends to the audit log (failures are logged, not returned). */
void syncd_event(struct syncd *s, const char *network, const char *gateway,
		 const char *who, const char *commit, const char *what,
		 const char *result);
/* One line of syncd's log (util/log.h), when level passes. */
void syncd_log(const struct syncd *s, enum o8_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* "in-sync", "pending", "drifted", "offline", "failed" (api.md). */
const char *syncd_agent_state(const struct syncd *s, const struct syncd_agent *a);
struct syncd_agent *syncd_agent_find(struct syncd *s, const char *network,
				     const char *gateway);

/* api.c */
enum o8_rc syncd_api_start(struct syncd *s, struct o8_err *err);

#endif
