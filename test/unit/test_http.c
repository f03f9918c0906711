/*
 * test_http.c - the libcurl client (lib/util/http.h) against a tiny HTTP
 * server on 127.0.0.1 run by the test: status and body, headers sent, the
 * body cap, the total timeout, and a refused connection's message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/http.h"

/* One connection: reads the request, answers by its path. */
struct server {
	int fd;
	unsigned short port;
	pthread_t t;
	char request[8192];             /* what the client sent */
};

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);  /* the client may hang up */

		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void *serve(void *arg)
{
	struct server *s = arg;
	size_t n = 0;
	char head[256];
	int c = accept(s->fd, NULL, NULL);

	if (c < 0)
		return NULL;
	while (n < sizeof(s->request) - 1 && !strstr(s->request, "\r\n\r\n")) {
		ssize_t r = read(c, s->request + n, sizeof(s->request) - 1 - n);

		if (r <= 0)
			break;
		n += (size_t)r;
		s->request[n] = '\0';
	}
	if (!strncmp(s->request, "GET /big ", 9)) {
		size_t len = 3u << 20;
		char *body = malloc(len);

		memset(body, 'x', len);
		snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n", len);
		write_all(c, head, strlen(head));
		write_all(c, body, len);
		free(body);
	} else if (!strncmp(s->request, "POST /echo ", 11)) {
		const char *b = strstr(s->request, "\r\n\r\n") + 4;

		snprintf(head, sizeof(head), "HTTP/1.1 201 Created\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n", strlen(b));
		write_all(c, head, strlen(head));
		write_all(c, b, strlen(b));
	} else {
		static const char nf[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n"
					 "Connection: close\r\n\r\nno such\r\n";

		write_all(c, nf, sizeof(nf) - 1);
	}
	close(c);
	return NULL;
}

static void server_listen(struct server *s)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s->fd >= 0);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s->fd, 4), 0);
	assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &len), 0);
	s->port = ntohs(a.sin_port);
}

static void server_start(struct server *s)
{
	server_listen(s);
	assert_int_equal(pthread_create(&s->t, NULL, serve, s), 0);
}

static void server_stop(struct server *s)
{
	pthread_join(s->t, NULL);
	close(s->fd);
}

static struct o8_http *client(long total_ms, size_t cap)
{
	struct o8_http_opts o = O8_HTTP_OPTS_INIT;
	struct o8_err err = O8_ERR_INIT;
	struct o8_http *h;

	o.protocols = "http";
	o.total_ms = total_ms;
	o.body_cap = cap;
	o.user_agent = "orc8r/test";
	assert_int_equal(o8_http_new(&h, &o, &err), O8_OK);
	return h;
}

static void http__post_headers_status_body(void **state)
{
	static const char *const extra[] = { "X-Extra: 1", NULL };
	struct o8_http_resp r = O8_HTTP_RESP_INIT;
	struct o8_err err = O8_ERR_INIT;
	struct server s = { 0 };
	struct o8_http *h = client(10000, 1024);
	char url[64];

	(void)state;
	server_start(&s);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/echo", s.port);
	assert_int_equal(o8_http_header(h, "Authorization: Bearer t0k", &err), O8_OK);
	assert_int_equal(o8_http_request(h, "POST", url, "{\"a\":1}", 7, extra, &r, &err),
			 O8_OK);
	server_stop(&s);
	assert_int_equal(r.status, 201);
	assert_int_equal(r.len, 7);
	assert_string_equal(r.body, "{\"a\":1}");
	assert_int_equal(r.curl_code, 0);
	assert_non_null(strstr(s.request, "POST /echo HTTP/1.1\r\n"));
	assert_non_null(strstr(s.request, "\r\nAuthorization: Bearer t0k\r\n"));
	assert_non_null(strstr(s.request, "\r\nX-Extra: 1\r\n"));
	assert_non_null(strstr(s.request, "\r\nUser-Agent: orc8r/test\r\n"));
	o8_http_resp_done(&r);
	o8_http_free(h);
}

static void http__error_status_is_an_answer(void **state)
{
	struct o8_http_resp r = O8_HTTP_RESP_INIT;
	struct o8_err err = O8_ERR_INIT;
	struct server s = { 0 };
	struct o8_http *h = client(10000, 1024);
	char url[64];

	(void)state;
	server_start(&s);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/nothing", s.port);
	assert_int_equal(o8_http_request(h, "GET", url, NULL, 0, NULL, &r, &err), O8_OK);
	server_stop(&s);
	assert_int_equal(r.status, 404);
	assert_string_equal(r.body, "no such\r\n");
	assert_non_null(strstr(s.request, "GET /nothing HTTP/1.1\r\n"));
	o8_http_resp_done(&r);
	o8_http_free(h);
}

/* A server cannot make us hold more than the cap. */
static void http__body_cap(void **state)
{
	struct o8_http_resp r = O8_HTTP_RESP_INIT;
	struct o8_err err = O8_ERR_INIT;
	struct server s = { 0 };
	struct o8_http *h = client(10000, 64 * 1024);
	char url[64];

	(void)state;
	server_start(&s);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/big", s.port);
	assert_int_equal(o8_http_request(h, "GET", url, NULL, 0, NULL, &r, &err), O8_ELIMIT);
	server_stop(&s);
	assert_true(r.over_cap);
	assert_true(r.len <= 64 * 1024);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(err.msg, "larger than 65536 bytes"));
	o8_http_resp_done(&r);
	o8_http_free(h);
}

/* A server that never answers: the total timeout ends the wait. */
static void http__total_timeout(void **state)
{
	struct o8_http_resp r = O8_HTTP_RESP_INIT;
	struct o8_err err = O8_ERR_INIT;
	struct server s = { 0 };
	struct o8_http *h = client(300, 1024);
	char url[64];

	(void)state;
	server_listen(&s);              /* the kernel accepts; nobody reads */
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", s.port);
	assert_int_equal(o8_http_request(h, "GET", url, NULL, 0, NULL, &r, &err), O8_ERR);
	close(s.fd);
	assert_int_equal(r.status, 0);
	assert_int_not_equal(r.curl_code, 0);
	assert_non_null(strstr(r.curl_msg, "timed out"));
	assert_string_equal(err.msg, r.curl_msg);
	o8_http_free(h);
}

static void http__refused_and_protocols(void **state)
{
	struct o8_http_resp r = O8_HTTP_RESP_INIT;
	struct o8_err err = O8_ERR_INIT;
	struct server s = { 0 };
	struct o8_http *h = client(10000, 1024);
	struct o8_http *tls = NULL;
	char url[64];

	(void)state;
	server_listen(&s);
	close(s.fd);                    /* nobody listens there now */
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", s.port);
	assert_int_equal(o8_http_request(h, "GET", url, NULL, 0, NULL, &r, &err), O8_ERR);
	assert_true(r.curl_msg[0] != '\0');
	o8_http_free(h);
	/* the default allows https only: plain http is refused before a byte */
	assert_int_equal(o8_http_new(&tls, NULL, &err), O8_OK);
	o8_err_clear(&err);
	assert_int_equal(o8_http_request(tls, "GET", url, NULL, 0, NULL, &r, &err), O8_ERR);
	assert_non_null(strstr(r.curl_msg, "http"));
	o8_http_free(tls);
}

static void http__escape(void **state)
{
	struct o8_err err = O8_ERR_INIT;
	struct o8_http *h;
	char *e;

	(void)state;
	assert_int_equal(o8_http_new(&h, NULL, &err), O8_OK);
	e = o8_http_escape(h, "group/project x");
	assert_string_equal(e, "group%2Fproject%20x");
	free(e);
	o8_http_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(http__post_headers_status_body),
		cmocka_unit_test(http__error_status_is_an_answer),
		cmocka_unit_test(http__body_cap),
		cmocka_unit_test(http__total_timeout),
		cmocka_unit_test(http__refused_and_protocols),
		cmocka_unit_test(http__escape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
