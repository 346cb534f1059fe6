/*
 * libFuzzer target over the SNTP receive path after recvmsg: the control
 * messages the kernel filled in (the SCM_TIMESTAMPNS receive stamp), the
 * source address checked against the server asked, and the datagram
 * through the NTP reply parser. The input: a byte choosing the address
 * family and the control length, the source address, the control buffer,
 * then the datagram. Invariants: an address is always its own peer; a
 * found stamp lies inside the control buffer (ASan checks the read).
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "time_ntp.h"
#include "time_sntp_recv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ADDR_LEN 28 /* a sockaddr_in6 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sockaddr_storage peer, from;
    union {
        char buf[256];
        struct cmsghdr align;
    } control;
    struct timespec ts;
    struct time_ntp_reply r;
    size_t controllen;
    char *exact;

    if (size < 1 + ADDR_LEN)
        return 0;
    controllen = (size_t)(data[0] >> 1) * 2;
    memset(&from, 0, sizeof(from));
    memcpy(&from, data + 1, ADDR_LEN);
    from.ss_family = data[0] & 1 ? AF_INET6 : AF_INET;
    peer = from;
    if (!time_sntp_recv_same_peer(&peer, &from))
        abort();
    data += 1 + ADDR_LEN;
    size -= 1 + ADDR_LEN;
    if (controllen > size)
        controllen = size;
    /* The control buffer in a heap block of its exact size, so ASan sees a
     * read past it. */
    exact = malloc(controllen ? controllen : 1);
    if (!exact)
        return 0;
    memcpy(exact, data, controllen);
    memcpy(control.buf, data, controllen);
    (void)time_sntp_recv_stamp(control.buf, controllen, &ts);
    if (((uintptr_t)exact % _Alignof(struct cmsghdr)) == 0)
        (void)time_sntp_recv_stamp(exact, controllen, &ts);
    free(exact);
    data += controllen;
    size -= controllen;
    (void)time_ntp_parse_reply(data, size, 0x0123456789abcdefull, 1700000000LL * 1000000000LL,
                               1700000000LL * 1000000000LL + 1000000, &r);
    return 0;
}
