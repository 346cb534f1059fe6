/*
 * Sends forged uevents to the kernel's multicast group from a userspace
 * netlink socket (root may send to group 1): COUNT datagrams in the
 * kernel's format for DEVPATH, then one in udevd's "libudev" format.
 * Prints how many were sent.
 *
 *   uevent_forge COUNT DEVPATH SEQNUM
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/netlink.h>

static void send_to_group(int fd, const char *buf, size_t len)
{
    struct sockaddr_nl dst = {.nl_family = AF_NETLINK, .nl_groups = 1};

    if (sendto(fd, buf, len, 0, (struct sockaddr *)&dst, sizeof(dst)) != (ssize_t)len)
        err(1, "sendto group 1");
}

int main(int argc, char **argv)
{
    struct sockaddr_nl me = {.nl_family = AF_NETLINK};
    char buf[1024];
    int fd, count, len, sent = 0;

    if (argc != 4)
        errx(64, "usage: uevent_forge COUNT DEVPATH SEQNUM");
    count = atoi(argv[1]);
    fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
    if (fd < 0 || bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0)
        err(1, "netlink socket");
    for (int i = 0; i < count; i++) {
        len = snprintf(buf, sizeof(buf), "add@%s%cACTION=add%cDEVPATH=%s%cSUBSYSTEM=net%cINTERFACE=forged%c"
                       "SEQNUM=%llu", argv[2], 0, 0, argv[2], 0, 0, 0, strtoull(argv[3], NULL, 10) + (unsigned)i);
        send_to_group(fd, buf, (size_t)len + 1);
        sent++;
    }
    /* udevd's monitor format: magic, then a binary header, then properties. */
    len = snprintf(buf, sizeof(buf), "libudev%c%c%c%c%c%c%c%c%cACTION=add%cDEVPATH=%s%cSUBSYSTEM=net%cSEQNUM=1",
                   0, 0xfe, 0xed, 0xca, 0xfe, 40, 0, 0, 0, 0, argv[2], 0, 0);
    send_to_group(fd, buf, (size_t)len + 1);
    sent++;
    printf("%d\n", sent);
    return 0;
}
