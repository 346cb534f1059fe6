#include "time_sntp_recv.h"

#include <netinet/in.h>
#include <string.h>

int time_sntp_recv_stamp(void *control, size_t controllen, struct timespec *ts)
{
    struct msghdr msg = {.msg_control = control, .msg_controllen = controllen};
    int found = 0;

    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
        /* A header whose length runs past the buffer is not believed:
         * glibc's CMSG_NXTHDR checks only that the next header fits. */
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS &&
            c->cmsg_len >= CMSG_LEN(sizeof(*ts)) && c->cmsg_len <= controllen - (size_t)((char *)c - (char *)control)) {
            memcpy(ts, CMSG_DATA(c), sizeof(*ts));
            found = 1;
        }
    return found;
}

int time_sntp_recv_same_peer(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return 0;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

        return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
    }
    return 0;
}
