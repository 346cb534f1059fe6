#include "uevent_cred.h"

#include <string.h>
#include <sys/socket.h>

void uevent_cred_parse(uint32_t nl_pid, void *control, size_t controllen, uevent_netlink_sender *who)
{
    struct msghdr msg = {.msg_control = control, .msg_controllen = controllen};

    memset(who, 0, sizeof(*who));
    who->nl_pid = nl_pid;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
        /* A header whose length runs past the buffer is not believed:
         * glibc's CMSG_NXTHDR checks only that the next header fits. */
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
            c->cmsg_len >= CMSG_LEN(sizeof(struct ucred)) &&
            c->cmsg_len <= controllen - (size_t)((char *)c - (char *)control)) {
            struct ucred cred;

            memcpy(&cred, CMSG_DATA(c), sizeof(cred));
            who->has_cred = 1;
            who->pid = cred.pid;
            who->uid = cred.uid;
        }
}

int uevent_cred_is_kernel(const uevent_netlink_sender *who)
{
    return who->nl_pid == 0 && who->has_cred && who->uid == 0;
}
