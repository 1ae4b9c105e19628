/* ktest-net: the sockets the kernel matrix suite (suite.sh) needs and busybox lacks: UDP sends
 * and binds, pathname UNIX socket listeners and connects. Built static by tests/kernels/run
 * (gcc -static) into the initramfs. Prints "ok" or the errno's name and exits 0, 13 (EACCES)
 * or 1, so a case can tell a Landlock denial from any other failure.
 *
 *   ktest-net udp-send PORT       sendto 127.0.0.1:PORT (no listener needed: a send is a send)
 *   ktest-net udp-bind PORT       bind 127.0.0.1:PORT
 *   ktest-net unix-listen PATH    bind + listen on PATH, then accept forever (run it in the background)
 *   ktest-net unix-connect PATH   connect to PATH
 *   ktest-net dns-serve PORT      answer every DNS query on 127.0.0.1:PORT with A 127.0.0.1,
 *                                 forever (run it in the background): busybox has no dnsd
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int report(int rc) {
	if (rc == 0) {
		puts("ok");
		return 0;
	}
	int e = errno;
	printf("%s\n", e == EACCES ? "EACCES" : e == EPERM ? "EPERM" : strerror(e));
	return e == EACCES ? 13 : 1;
}

static struct sockaddr_in loopback(const char *port) {
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((unsigned short)atoi(port));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static struct sockaddr_un unix_path(const char *path) {
	struct sockaddr_un a;
	memset(&a, 0, sizeof a);
	a.sun_family = AF_UNIX;
	strncpy(a.sun_path, path, sizeof a.sun_path - 1);
	return a;
}

/* A DNS server for the client case: the query's header and question come back with the
 * response bit, one answer (a pointer to the question's name, A, IN, TTL 60, 127.0.0.1). */
static int dns_serve(const char *port) {
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = loopback(port);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a))
		return report(-1);
	puts("serving");
	fflush(stdout);
	static const unsigned char answer[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1};
	for (;;) {
		unsigned char q[512 + sizeof answer];
		struct sockaddr_in from;
		socklen_t len = sizeof from;
		ssize_t n = recvfrom(fd, q, 512, 0, (struct sockaddr *)&from, &len);
		if (n < 12)
			continue;
		q[2] = 0x81;           /* response, recursion desired */
		q[3] = 0x80;           /* recursion available, no error */
		q[6] = 0, q[7] = 1;    /* one answer */
		q[8] = q[9] = q[10] = q[11] = 0;
		memcpy(q + n, answer, sizeof answer);
		sendto(fd, q, (size_t)n + sizeof answer, 0, (struct sockaddr *)&from, len);
	}
}

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: ktest-net udp-send|udp-bind|dns-serve PORT | unix-listen|unix-connect PATH\n");
		return 2;
	}
	const char *what = argv[1], *arg = argv[2];
	if (!strcmp(what, "dns-serve"))
		return dns_serve(arg);
	if (!strcmp(what, "udp-send") || !strcmp(what, "udp-bind")) {
		int fd = socket(AF_INET, SOCK_DGRAM, 0);
		if (fd < 0)
			return report(-1);
		struct sockaddr_in a = loopback(arg);
		if (!strcmp(what, "udp-bind"))
			return report(bind(fd, (struct sockaddr *)&a, sizeof a));
		ssize_t n = sendto(fd, "x", 1, 0, (struct sockaddr *)&a, sizeof a);
		return report(n == 1 ? 0 : -1);
	}
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0)
		return report(-1);
	struct sockaddr_un a = unix_path(arg);
	if (!strcmp(what, "unix-connect"))
		return report(connect(fd, (struct sockaddr *)&a, sizeof a));
	if (!strcmp(what, "unix-listen")) {
		unlink(arg);
		if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 16))
			return report(-1);
		puts("listening");
		fflush(stdout);
		for (;;) {
			int c = accept(fd, NULL, NULL);
			if (c >= 0)
				close(c);
		}
	}
	fprintf(stderr, "ktest-net: unknown command %s\n", what);
	return 2;
}
