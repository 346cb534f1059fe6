# zlib for crc32(): linked statically, so the helper maps a few KiB of it
# rather than the whole shared library (about 100 KiB of RSS).
LDLIBS_ringlog := -l:libz.a
