/* SPDX-License-Identifier: MIT */
/*
 * The HTTP layer against a scripted server on loopback: statuses and their
 * exit codes, the bounded retry, timeouts, credentials, URLs in messages.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdbool.h>

#include "check.h"
#include "internal.h"

/* A reply per connection; "" closes without answering, NULL hangs. */
struct script {
	const char *replies[4];
	int n;
};

static int listen_loopback(int *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 8) != 0)
		exit(99);
	getsockname(fd, (struct sockaddr *)&sa, &len);
	*port = ntohs(sa.sin_port);
	return fd;
}

/*
 * Fork a server that answers connections from the script and writes every
 * request it read to reqfd. Returns its pid.
 */
static pid_t serve(const struct script *sc, int *port, int reqfd)
{
	int lfd = listen_loopback(port);
	pid_t pid = fork();

	if (pid != 0) {
		close(lfd);
		return pid;
	}
	for (int i = 0; i < sc->n; i++) {
		char buf[8192];
		ssize_t n;
		int c = accept(lfd, NULL, NULL);

		if (c < 0)
			_exit(1);
		n = read(c, buf, sizeof(buf));	/* the requests here fit in one read */
		if (n > 0 && write(reqfd, buf, (size_t)n) < 0)
			_exit(1);
		if (!sc->replies[i]) {
			pause();
			_exit(0);
		}
		if (*sc->replies[i] && write(c, sc->replies[i], strlen(sc->replies[i])) < 0)
			_exit(1);
		close(c);
	}
	_exit(0);
}

static const char ok_reply[] =
	"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\n{\"a\": 1}\n";
static const char err500[] =
	"HTTP/1.1 500 Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
static const char err403[] =
	"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
static const char redirect[] =
	"HTTP/1.1 302 Found\r\nLocation: /\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

struct run {
	int rc;
	long status;
	char body[256];
	char requests[8192];
	char error[1024];
	char url[128];
};

/* Set: the scripted server is the configured master UI (a token's origin). */
static bool server_is_master_ui;

static void run_script(const struct script *sc, unsigned flags, enum co_http_method m,
		       struct run *r)
{
	struct co_ctx *ctx = co_ctx_new();
	struct co_http_request req = { .method = m, .flags = flags, .body = "x=1",
				       .body_len = 3, .content_type = "text/plain" };
	struct co_http_response resp;
	int pfd[2], port;
	pid_t pid;
	ssize_t n;

	memset(r, 0, sizeof(*r));
	if (pipe(pfd) != 0)
		exit(99);
	if (co_config_load(ctx) != CO_OK)
		exit(99);
	co_config_set(ctx, CO_KEY_TIMEOUT, "1");
	pid = serve(sc, &port, pfd[1]);
	close(pfd[1]);
	snprintf(r->url, sizeof(r->url), "http://127.0.0.1:%d/json/", port);
	if (server_is_master_ui) {
		char ui[64];

		snprintf(ui, sizeof(ui), "http://127.0.0.1:%d", port);
		co_config_set(ctx, CO_KEY_MASTER_UI, ui);
	}
	req.url = r->url;
	r->rc = co_http_request(ctx, &req, &resp);
	r->status = resp.status;
	if (resp.body)
		snprintf(r->body, sizeof(r->body), "%s", resp.body);
	snprintf(r->error, sizeof(r->error), "%s", co_ctx_error(ctx));
	co_http_response_clear(&resp);
	co_ctx_free(ctx);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	n = read(pfd[0], r->requests, sizeof(r->requests) - 1);
	r->requests[n > 0 ? n : 0] = '\0';
	close(pfd[0]);
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static void test_ok(void)
{
	struct script sc = { { ok_reply }, 1 };
	struct run r;

	run_script(&sc, CO_HTTP_RETRY, CO_HTTP_GET, &r);
	CHECK_INT(r.rc, CO_OK);
	CHECK_INT(r.status, 200);
	CHECK_STR(r.body, "{\"a\": 1}\n");
	CHECK(strstr(r.requests, "GET /json/ HTTP/1.1") != NULL);
	CHECK(strstr(r.requests, "User-Agent: clusterops/") != NULL);
	CHECK(strstr(r.requests, "Authorization") == NULL);
}

static void test_retry_then_ok(void)
{
	struct script sc = { { err500, "", ok_reply }, 3 };
	struct run r;

	run_script(&sc, CO_HTTP_RETRY, CO_HTTP_GET, &r);
	CHECK_INT(r.rc, CO_OK);
	CHECK_INT(count(r.requests, "GET /json/"), 3);
}

static void test_retry_bounded(void)
{
	struct script sc = { { err500, err500, err500, err500 }, 4 };
	struct run r;

	run_script(&sc, CO_HTTP_RETRY, CO_HTTP_GET, &r);
	CHECK_INT(r.rc, CO_EUNAVAILABLE);
	CHECK_INT(count(r.requests, "GET /json/"), 3);
	CHECK(strncmp(r.error, r.url, strlen(r.url)) == 0);
	CHECK(strstr(r.error, "HTTP 500") != NULL);
}

static void test_post_not_retried(void)
{
	struct script sc = { { err500, ok_reply }, 2 };
	struct run r;

	run_script(&sc, 0, CO_HTTP_POST, &r);
	CHECK_INT(r.rc, CO_EUNAVAILABLE);
	CHECK_INT(count(r.requests, "POST /json/"), 1);
	CHECK(strstr(r.requests, "Content-Type: text/plain") != NULL);
}

static void test_statuses(void)
{
	struct script forbidden = { { err403 }, 1 }, found = { { redirect }, 1 };
	struct script empty = { { "" }, 1 };
	struct run r;

	run_script(&forbidden, 0, CO_HTTP_GET, &r);
	CHECK_INT(r.rc, CO_ENOPERM);
	run_script(&forbidden, CO_HTTP_ANY_STATUS, CO_HTTP_GET, &r);
	CHECK_INT(r.rc, CO_OK);
	CHECK_INT(r.status, 403);
	run_script(&found, 0, CO_HTTP_POST, &r);
	CHECK_INT(r.rc, CO_OK);
	CHECK_INT(r.status, 302);
	run_script(&empty, 0, CO_HTTP_GET, &r);
	CHECK_INT(r.rc, CO_EPROTOCOL);
	CHECK(strstr(r.error, "empty reply") != NULL);
}

static void test_timeout(void)
{
	struct script hang = { { NULL }, 1 };
	struct run r;

	run_script(&hang, CO_HTTP_RETRY, CO_HTTP_GET, &r);
	CHECK_INT(r.rc, CO_ETEMPFAIL);
	CHECK(strstr(r.error, "timed out") != NULL);
	/* a timeout spends the whole budget: no second attempt */
	CHECK_INT(count(r.requests, "GET /json/"), 1);
}

static void test_refused(void)
{
	struct co_ctx *ctx = co_ctx_new();
	struct co_http_response resp;
	char url[64];
	int port, fd = listen_loopback(&port);

	close(fd);	/* nothing listens there now */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/json/", port);
	CHECK_INT(co_http_get(ctx, url, &resp), CO_EUNAVAILABLE);
	CHECK(strstr(co_ctx_error(ctx), url) == co_ctx_error(ctx));
	CHECK(strstr(co_ctx_error(ctx), "Connection refused") != NULL);
	co_ctx_free(ctx);
}

static void test_token(void)
{
	struct script sc = { { ok_reply }, 1 };
	char path[] = "/tmp/co-test-token-XXXXXX";
	int fd = mkstemp(path);
	struct run r;

	if (fd < 0 || write(fd, "s3cret\n", 7) != 7)
		exit(99);
	close(fd);
	setenv("SC_TOKEN_FILE", path, 1);
	server_is_master_ui = true;
	run_script(&sc, 0, CO_HTTP_GET, &r);
	CHECK(strstr(r.requests, "Authorization: Bearer s3cret\r\n") != NULL);
	/* the environment's token wins over the file's */
	setenv("SC_TOKEN", "fromenv", 1);
	run_script(&sc, 0, CO_HTTP_GET, &r);
	CHECK(strstr(r.requests, "Authorization: Bearer fromenv\r\n") != NULL);
	/* an origin that is not configured (a worker's, say) gets no token... */
	server_is_master_ui = false;
	run_script(&sc, 0, CO_HTTP_GET, &r);
	CHECK(r.rc == CO_OK);
	CHECK(strstr(r.requests, "Authorization") == NULL);
	/* ...unless token_origins names it (any port of 127.0.0.1 is not one) */
	setenv("SC_TOKEN_ORIGINS", "http://localhost:1, http://127.0.0.1", 1);
	run_script(&sc, 0, CO_HTTP_GET, &r);
	CHECK(strstr(r.requests, "Authorization") == NULL);
	unsetenv("SC_TOKEN_ORIGINS");
	unsetenv("SC_TOKEN");
	unsetenv("SC_TOKEN_FILE");
	unlink(path);
}

/*
 * The context's deadline bounds each request below its timeout, lets no
 * retry pause run past it, and starts no request once it has passed; a
 * multi's transfers likewise.
 */
static void test_deadline(void)
{
	struct script hang = { { NULL }, 1 };
	struct co_ctx *ctx = co_ctx_new();
	struct co_http_response resp;
	struct co_http_multi *m;
	char url[64];
	int pfd[2], port, fd, status;
	pid_t pid;
	double t0;
	void *tag;

	if (!ctx || pipe(pfd) != 0 || co_config_load(ctx) != CO_OK)
		exit(99);
	co_config_set(ctx, CO_KEY_TIMEOUT, "20");
	pid = serve(&hang, &port, pfd[1]);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/json/", port);
	t0 = co_monotonic();
	co_ctx_set_deadline(ctx, t0 + 0.3);
	CHECK_INT(co_http_get(ctx, url, &resp), CO_ETEMPFAIL);
	CHECK(co_monotonic() - t0 < 1.5);
	CHECK(strstr(co_ctx_error(ctx), "timed out after 0.3 s, at the deadline") != NULL);
	/* passed: nothing is asked */
	CHECK_INT(co_http_get(ctx, url, &resp), CO_ETEMPFAIL);
	CHECK(strstr(co_ctx_error(ctx), "not asked: the deadline has passed") != NULL);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);

	/* refused: the retry's pauses (0.2 s, 0.4 s) would pass it; the refusal stands */
	fd = listen_loopback(&port);
	close(fd);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/json/", port);
	t0 = co_monotonic();
	co_ctx_set_deadline(ctx, t0 + 0.1);
	CHECK_INT(co_http_get(ctx, url, &resp), CO_EUNAVAILABLE);
	CHECK(co_monotonic() - t0 < 0.15);
	CHECK(strstr(co_ctx_error(ctx), "Connection refused") != NULL);

	pid = serve(&hang, &port, pfd[1]);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/json/", port);
	m = co_http_multi_new(ctx, 2);
	CHECK(m != NULL);
	if (m) {
		t0 = co_monotonic();
		co_ctx_set_deadline(ctx, t0 + 0.3);
		CHECK_INT(co_http_multi_get(m, url, NULL), CO_OK);
		CHECK_INT(co_http_multi_next(m, &tag, &resp, &status), 1);
		CHECK_INT(status, CO_ETEMPFAIL);
		CHECK(co_monotonic() - t0 < 1.5);
		CHECK(strstr(co_ctx_error(ctx), "at the deadline") != NULL);
		co_http_response_clear(&resp);
	}
	co_http_multi_free(m);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);

	/* none: the timeout alone */
	co_ctx_set_deadline(ctx, 0);
	co_config_set(ctx, CO_KEY_TIMEOUT, "0.2");
	pid = serve(&hang, &port, pfd[1]);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/json/", port);
	CHECK_INT(co_http_get(ctx, url, &resp), CO_ETEMPFAIL);
	CHECK(strstr(co_ctx_error(ctx), "timed out after 0.2 s") != NULL);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(pfd[0]);
	close(pfd[1]);
	co_ctx_free(ctx);
}

/* Only http and https: any other scheme is refused before a connection. */
static void test_schemes(void)
{
	static const char *const refused[] = {
		"gopher://127.0.0.1:1/_x", "file:///etc/passwd", "dict://127.0.0.1:1/",
		"ftp://127.0.0.1:1/", "ldap://127.0.0.1:1/",
	};
	struct co_ctx *ctx = co_ctx_new();
	struct co_http_response resp;
	struct co_http_multi *m;

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		CHECK_INT(co_http_get(ctx, refused[i], &resp), CO_EPROTOCOL);
		CHECK(strstr(co_ctx_error(ctx), refused[i]) == co_ctx_error(ctx));
		CHECK(strstr(co_ctx_error(ctx), "only http and https") != NULL);
	}
	m = co_http_multi_new(ctx, 2);
	CHECK(m != NULL);
	if (m) {
		CHECK_INT(co_http_multi_get(m, "gopher://127.0.0.1:1/", NULL), CO_EPROTOCOL);
		CHECK(strstr(co_ctx_error(ctx), "only http and https") != NULL);
	}
	co_http_multi_free(m);
	co_ctx_free(ctx);
}

static void test_url_join(void)
{
	char *u = co_url_join("http://h:8080/", "/json/");

	CHECK_STR(u, "http://h:8080/json/");
	free(u);
	u = co_url_join("http://h:8080", "app/kill/");
	CHECK_STR(u, "http://h:8080/app/kill/");
	free(u);
}

int main(void)
{
	unsetenv("SC_TOKEN");
	unsetenv("SC_TOKEN_FILE");
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	setenv("HOME", "/nonexistent", 1);	/* no ~/.netrc, no user config */
	unsetenv("XDG_CONFIG_HOME");
	unsetenv("SC_CONFIG");
	unsetenv("SC_TIMEOUT");
	test_ok();
	test_retry_then_ok();
	test_retry_bounded();
	test_post_not_retried();
	test_statuses();
	test_timeout();
	test_refused();
	test_deadline();
	test_token();
	test_schemes();
	test_url_join();
	return CHECK_DONE();
}
