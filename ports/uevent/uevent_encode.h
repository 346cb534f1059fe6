/*
 * Properties as an Erlang map of binaries (#{<<"KEY">> => <<"VALUE">>}),
 * from a parsed datagram or from an enumerated device. A key that repeats
 * keeps its last value, as a map must hold each key once.
 */
#ifndef UEVENT_ENCODE_H
#define UEVENT_ENCODE_H

#include <ei.h>

#include "uevent_parse.h"

/* Every field of the event, ACTION and SEQNUM included. */
int uevent_x_props(ei_x_buff *x, const uevent *ev);

/* The values of a multiline event as its device's uevent file shows them
 * (cut at the first newline): only the keys whose value differs. */
int uevent_x_file_form(ei_x_buff *x, const uevent *ev);

/* DEVPATH, SUBSYSTEM and the KEY=VALUE lines of the device's uevent file:
 * the same keys a uevent for the device carries, minus ACTION and SEQNUM. */
int uevent_x_file_props(ei_x_buff *x, const char *devpath, const char *subsystem, const char *text, size_t len);

#endif
