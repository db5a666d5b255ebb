/*
 * The reference C server of the benchmark: libmodbus (Debian's
 * libmodbus-dev), one process, one thread, every client multiplexed with
 * select() — the pattern of libmodbus's own tests/bandwidth-server-many-up.c.
 *
 * It serves holding registers 0000H-019FH (so the measurement block at 0030H
 * and the history blocks from 009CH are there) with fixed values, and coil
 * 0001H. Like metertwin it sets TCP_NODELAY on each accepted connection.
 *
 *   cc -O2 -o libmodbus_server libmodbus_server.c $(pkg-config --cflags --libs libmodbus)
 *   ./libmodbus_server [PORT]      (0 or nothing: any free port)
 *
 * When listening it prints one JSON line, as metertwin does:
 *   {"event":"ready","tcp":"127.0.0.1:PORT"}
 * SIGTERM ends it (exit 0).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <modbus.h>

#define N_HOLDING 0x01A0

static volatile sig_atomic_t stop = 0;
static void on_term(int sig) { (void)sig; stop = 1; }

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 0;
    modbus_t *ctx = modbus_new_tcp("127.0.0.1", port);
    if (ctx == NULL) {
        fprintf(stderr, "libmodbus_server: modbus_new_tcp: %s\n", modbus_strerror(errno));
        return 2;
    }
    modbus_mapping_t *map = modbus_mapping_new(2, 0, N_HOLDING, 0);
    if (map == NULL) {
        fprintf(stderr, "libmodbus_server: modbus_mapping_new: %s\n", modbus_strerror(errno));
        return 2;
    }
    /* Some non-zero words: 220.0 V as a float (high word first) etc. */
    for (int i = 0; i < N_HOLDING; i++)
        map->tab_registers[i] = (uint16_t)(i * 7u);
    map->tab_registers[0x30] = 0x435C; /* 220.0f */
    map->tab_registers[0x31] = 0x0000;
    map->tab_bits[1] = 1;

    int server = modbus_tcp_listen(ctx, 64);
    if (server < 0) {
        fprintf(stderr, "libmodbus_server: listen: %s\n", modbus_strerror(errno));
        return 2;
    }
    struct sockaddr_in bound;
    socklen_t blen = sizeof bound;
    getsockname(server, (struct sockaddr *)&bound, &blen);
    printf("{\"event\":\"ready\",\"tcp\":\"127.0.0.1:%d\"}\n", ntohs(bound.sin_port));
    fflush(stdout);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    uint8_t query[MODBUS_TCP_MAX_ADU_LENGTH];
    fd_set refset, rdset;
    FD_ZERO(&refset);
    FD_SET(server, &refset);
    int fdmax = server;

    while (!stop) {
        rdset = refset;
        if (select(fdmax + 1, &rdset, NULL, NULL, NULL) < 0) {
            if (errno == EINTR)
                continue;
            perror("libmodbus_server: select");
            return 1;
        }
        for (int fd = 0; fd <= fdmax; fd++) {
            if (!FD_ISSET(fd, &rdset))
                continue;
            if (fd == server) {
                int c = accept(server, NULL, NULL);
                if (c < 0)
                    continue;
                int one = 1;
                setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                FD_SET(c, &refset);
                if (c > fdmax)
                    fdmax = c;
            } else {
                modbus_set_socket(ctx, fd);
                int rc = modbus_receive(ctx, query);
                if (rc > 0) {
                    modbus_reply(ctx, query, rc, map);
                } else if (rc == -1) {
                    close(fd);
                    FD_CLR(fd, &refset);
                    if (fd == fdmax)
                        fdmax--;
                }
            }
        }
    }
    close(server);
    modbus_mapping_free(map);
    modbus_free(ctx);
    return 0;
}
