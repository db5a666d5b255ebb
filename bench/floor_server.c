/*
 * The floor of the TCP benchmark: the least a Modbus TCP server can do per
 * request on this kernel. No Modbus library and no register model: one
 * thread, non-blocking sockets on one epoll set, one recv() and one send()
 * per request, and a reply of zero registers built from the request header.
 * It is not a usable server (it checks nothing and answers every function as
 * FC03); it measures what the kernel's loopback TCP path costs, so that the
 * other servers' CPU per request can be read as "floor + their own work".
 *
 *   cc -O2 -o floor_server floor_server.c
 *   ./floor_server [PORT] [--busy-poll]      (0 or nothing: any free port)
 *
 * --busy-poll: while a client is connected, never sleep (epoll_wait with a
 * zero timeout in a loop), so a request is picked up without the wake-up of
 * an idle CPU. It spends a whole core while connected; it shows the lowest
 * round trip any server reaches on this machine.
 *
 * When listening it prints one JSON line, as metertwin does:
 *   {"event":"ready","tcp":"127.0.0.1:PORT"}
 * SIGTERM ends it (exit 0).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stop = 0;
static void on_term(int sig) { (void)sig; stop = 1; }

/* Answer every complete request in buf[0..len); returns the bytes used. */
static size_t answer(int fd, const unsigned char *buf, size_t len)
{
    unsigned char out[9 + 250];
    size_t used = 0;
    while (len - used >= 12) {
        const unsigned char *req = buf + used;
        size_t frame = 6 + (size_t)((req[4] << 8) | req[5]);
        if (frame < 12 || frame > 260)
            return len; /* not an FC03 request: drop the bytes */
        if (len - used < frame)
            break;
        unsigned count = (unsigned)((req[10] << 8) | req[11]);
        if (count > 125)
            count = 125;
        memset(out, 0, sizeof out);
        out[0] = req[0];
        out[1] = req[1];
        out[4] = (unsigned char)((3 + 2 * count) >> 8);
        out[5] = (unsigned char)(3 + 2 * count);
        out[6] = req[6];
        out[7] = 0x03;
        out[8] = (unsigned char)(2 * count);
        if (send(fd, out, 9 + 2 * count, MSG_NOSIGNAL) < 0)
            return len; /* the peer is gone; the next recv says so */
        used += frame;
    }
    return used;
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 0;
    int busy_poll = argc > 2 && strcmp(argv[2], "--busy-poll") == 0;
    int clients = 0;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 64) < 0) {
        perror("floor_server: bind/listen");
        return 2;
    }
    socklen_t alen = sizeof addr;
    getsockname(lfd, (struct sockaddr *)&addr, &alen);

    struct sigaction sa = {0};
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    printf("{\"event\":\"ready\",\"tcp\":\"127.0.0.1:%d\"}\n", ntohs(addr.sin_port));
    fflush(stdout);

    /* Per-connection leftovers of a partly received request. */
    static unsigned char pending[1024][260];
    static size_t pending_len[1024];
    unsigned char buf[4096];
    struct epoll_event events[64];
    while (!stop) {
        int n = epoll_wait(ep, events, 64, busy_poll && clients > 0 ? 0 : -1);
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == lfd) {
                int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
                if (c < 0)
                    continue;
                if (c >= 1024) {
                    close(c);
                    continue;
                }
                setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                pending_len[c] = 0;
                struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
                epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                clients++;
                continue;
            }
            size_t have = pending_len[fd];
            memcpy(buf, pending[fd], have);
            ssize_t r = recv(fd, buf + have, sizeof buf - have, 0);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
                epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
                close(fd);
                clients--;
                continue;
            }
            if (r < 0)
                continue;
            have += (size_t)r;
            size_t used = answer(fd, buf, have);
            size_t left = have - used;
            if (left > sizeof pending[fd])
                left = 0; /* garbage: drop it */
            memcpy(pending[fd], buf + used, left);
            pending_len[fd] = left;
        }
    }
    return 0;
}
