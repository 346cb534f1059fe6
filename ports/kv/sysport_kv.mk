# zlib for crc32(), from its archive (a few KiB mapped instead of the shared
# library); -l: names the archive in static and dynamic links alike.
LDLIBS_kv := -l:libz.a
