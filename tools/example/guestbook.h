/* The guestbook: a replicated list of signatures, each a name and a message. It is the
 * example of an application with a state machine of its own on the Luminous library; this
 * header is what its server side (guestbook_fsm.c) and client side (guestbook.c) share. */
#ifndef GUESTBOOK_H
#define GUESTBOOK_H

#include <luminous/fsm.h>

/* The one write: sign the book. Body: u8 name_len | name | message (the rest). Names are
 * printable ASCII, messages any bytes but control characters (so the book prints safely). */
#define GB_SIGN        RAFT_ENTRY_APP_MIN
#define GB_NAME_MAX    32u
#define GB_MESSAGE_MAX 160u

/* The newest GB_KEEP signatures are kept; older ones are only counted. A read asks for the
 * newest n <= GB_READ_MAX (request: u32 n) and gets them as text, one line each, oldest
 * first, after a "signatures: TOTAL" line: small enough for one answer frame. */
#define GB_KEEP      256u
#define GB_READ_MAX  16u

/* lum_result.code of both: a sign is answered with its u64 number (1, 2, ...). */
enum gb_code { GB_OK = 0, GB_BAD_REQUEST = 1 };

extern const struct lum_fsm_ops guestbook_fsm_ops;

#endif
