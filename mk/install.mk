# make install / make uninstall (included by the Makefile). GNU conventions: PREFIX, one
# variable per directory, and DESTDIR, a staging root put before every path on disk but
# never into the installed files (luminous.pc and the unit name the real places).
PREFIX       ?= /usr/local
BINDIR       ?= $(PREFIX)/bin
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
MANDIR       ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DOCDIR       ?= $(PREFIX)/share/doc/luminous
INSTALL      ?= install

LUM_VERSION  := $(shell sed -n 's/^\#define LUM_VERSION "\(.*\)"/\1/p' include/luminous/version.h)
INST_BINS    := raftsrv raftctl raftbench
INST_HEADERS := $(notdir $(wildcard include/luminous/*.h))
INST_MAN1    := raftsrv.1 raftctl.1
INST_MAN5    := raft.conf.5
INST_DOCS    := raft.conf.example README.md
INST_EXAMPLE := $(notdir $(wildcard tools/example/*.[ch])) Makefile README.md
# luminous.pc names its directories below ${prefix} when they are, so that
# `pkg-config --define-prefix` can move the tree
pc_rel = $(patsubst $(PREFIX)/%,$${prefix}/%,$(1))

# The unit example is a doc, not installed into systemd's directories: enabling a service
# is the administrator's choice, and it needs a user and a config first (README).
install: $(INST_BINS:%=$(BUILD)/%) $(BUILD)/libluminous.a
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/luminous \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(PKGCONFIGDIR) \
	    $(DESTDIR)$(DOCDIR)/example
	$(INSTALL) -m 755 $(INST_BINS:%=$(BUILD)/%) $(DESTDIR)$(BINDIR)/
	$(INSTALL) -m 644 $(BUILD)/libluminous.a $(DESTDIR)$(LIBDIR)/
	$(INSTALL) -m 644 $(INST_HEADERS:%=include/luminous/%) $(DESTDIR)$(INCLUDEDIR)/luminous/
	$(INSTALL) -m 644 $(INST_MAN1:%=tools/man/%) $(DESTDIR)$(MANDIR)/man1/
	$(INSTALL) -m 644 $(INST_MAN5:%=tools/man/%) $(DESTDIR)$(MANDIR)/man5/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(call pc_rel,$(LIBDIR))|' \
	    -e 's|@INCLUDEDIR@|$(call pc_rel,$(INCLUDEDIR))|' -e 's|@VERSION@|$(LUM_VERSION)|' \
	    tools/luminous.pc.in > $(BUILD)/luminous.pc
	$(INSTALL) -m 644 $(BUILD)/luminous.pc $(DESTDIR)$(PKGCONFIGDIR)/
	$(INSTALL) -m 644 $(INST_DOCS) $(DESTDIR)$(DOCDIR)/
	sed 's|/usr/local/bin/raftsrv|$(BINDIR)/raftsrv|' tools/systemd/luminous@.service \
	    > $(BUILD)/luminous@.service
	$(INSTALL) -m 644 $(BUILD)/luminous@.service $(DESTDIR)$(DOCDIR)/
	$(INSTALL) -m 644 $(INST_EXAMPLE:%=tools/example/%) $(DESTDIR)$(DOCDIR)/example/

# Removes exactly what install put there, and the directories only Luminous uses.
uninstall:
	rm -f $(INST_BINS:%=$(DESTDIR)$(BINDIR)/%) $(DESTDIR)$(LIBDIR)/libluminous.a \
	    $(INST_HEADERS:%=$(DESTDIR)$(INCLUDEDIR)/luminous/%) \
	    $(INST_MAN1:%=$(DESTDIR)$(MANDIR)/man1/%) $(INST_MAN5:%=$(DESTDIR)$(MANDIR)/man5/%) \
	    $(DESTDIR)$(PKGCONFIGDIR)/luminous.pc $(INST_DOCS:%=$(DESTDIR)$(DOCDIR)/%) \
	    $(DESTDIR)$(DOCDIR)/luminous@.service $(INST_EXAMPLE:%=$(DESTDIR)$(DOCDIR)/example/%)
	rmdir $(DESTDIR)$(INCLUDEDIR)/luminous $(DESTDIR)$(DOCDIR)/example $(DESTDIR)$(DOCDIR) \
	    2>/dev/null || true

.PHONY: install uninstall
