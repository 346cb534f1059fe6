/*
 * libFuzzer target over the uevent sender check: the netlink port and the
 * control messages recvmsg filled in. The control buffer sits in a heap
 * block of its exact size, so ASan sees any read past it. Invariant: only
 * port 0 with credentials of uid 0 is the kernel.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "uevent_cred.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uevent_netlink_sender who;
    uint32_t nl_pid;
    char *control;

    if (size < 4)
        return 0;
    memcpy(&nl_pid, data, 4);
    nl_pid &= 3; /* mostly 0, the kernel's port */
    control = malloc(size - 4 ? size - 4 : 1);
    if (!control)
        return 0;
    memcpy(control, data + 4, size - 4);
    uevent_cred_parse(nl_pid, control, size - 4, &who);
    if (uevent_cred_is_kernel(&who) && (nl_pid != 0 || !who.has_cred || who.uid != 0))
        abort();
    if (who.nl_pid != nl_pid || (!who.has_cred && (who.pid != 0 || who.uid != 0)))
        abort();
    free(control);
    return 0;
}
