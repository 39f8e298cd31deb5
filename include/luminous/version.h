/* The library's version, for programs built against it (pkg-config reports the same: the
 * Makefile reads luminous.pc's Version from here). */
#ifndef LUMINOUS_VERSION_H
#define LUMINOUS_VERSION_H

#define LUM_VERSION "0.7.0"

#endif
