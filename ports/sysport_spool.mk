LDLIBS_spool := -lz
