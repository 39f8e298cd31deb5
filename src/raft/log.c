/* The core's log: a fixed-size memory window (a ring) over the persisted log.
 *
 * The ring holds the newest entries; older ones come from the shell's raft_log_store. The
 * one rule: entries not yet durable are never evicted, because nothing else has them.
 * Appends evict the oldest durable entry when the ring is full; when every slot holds an
 * undurable entry the log has no room, and the caller pushes back (proposals get EBUSY, a
 * follower accepts a prefix of an append). */
#include "raft_int.h"

static struct raft_entry *log_ring_slot(const struct raft_log *log, uint64_t index)
{
    return &log->ring[index % log->window_cap];
}

static bool log_in_window(const struct raft_log *log, uint64_t index)
{
    return index >= log->window_first && index <= log->last_index;
}

int log_init(struct raft_log *log, uint64_t window_cap, const struct raft_boot *boot,
             const struct raft_log_store *store)
{
    memset(log, 0, sizeof *log);
    log->ring = calloc(window_cap, sizeof *log->ring);
    if (!log->ring)
        return -RAFT_ENOMEM;
    log->window_cap = window_cap;
    log->store = store;
    log->snapshot_index = boot->snapshot_index;
    log->snapshot_term = boot->snapshot_term;
    log->last_index = boot->last_index;
    log->stable_index = boot->last_index;
    log->window_first = boot->last_index + 1;
    log->last_term = log_term_of(log, boot->last_index);
    return 0;
}

void log_free(struct raft_log *log)
{
    free(log->ring);
    log->ring = NULL;
}

int log_term(const struct raft_log *log, uint64_t index, uint64_t *term_out)
{
    if (index == log->snapshot_index) {
        *term_out = log->snapshot_term;
        return 0;
    }
    if (index == 0)
        return -RAFT_ECOMPACTED;
    if (index > log->last_index)
        return -RAFT_EINVAL;
    if (log_in_window(log, index)) {
        *term_out = log_ring_slot(log, index)->term;
        return 0;
    }
    RAFT_ASSERT(index <= log->stable_index);
    int rv = log->store->term(log->store->ctx, index, term_out);
    RAFT_ASSERT(rv == 0 || rv == -RAFT_ECOMPACTED);
    return rv;
}

uint64_t log_term_of(const struct raft_log *log, uint64_t index)
{
    uint64_t term = 0;
    int rv = log_term(log, index, &term);
    RAFT_ASSERT(rv == 0);
    return term;
}

uint64_t log_room(const struct raft_log *log)
{
    uint64_t used = log->last_index + 1 - log->window_first;
    uint64_t evictable = 0;
    if (log->stable_index >= log->window_first)
        evictable = log->stable_index + 1 - log->window_first;
    return log->window_cap - used + evictable;
}

struct raft_entry *log_append_slot(struct raft_log *log, uint64_t term)
{
    RAFT_ASSERT(term >= log->last_term);
    if (log->last_index + 1 - log->window_first == log->window_cap) {
        RAFT_ASSERT(log->window_first <= log->stable_index); /* evict durable only */
        log->window_first++;
    }
    log->last_index++;
    log->last_term = term;
    struct raft_entry *e = log_ring_slot(log, log->last_index);
    e->index = log->last_index;
    e->term = term;
    return e;
}

void log_truncate_from(struct raft_log *log, uint64_t from)
{
    RAFT_ASSERT(from > log->snapshot_index);
    RAFT_ASSERT(from <= log->last_index);
    log->last_index = from - 1;
    if (log->window_first > from)
        log->window_first = from; /* nothing of the window is left */
    if (log->stable_index > log->last_index)
        log->stable_index = log->last_index;
    log->last_term = log_term_of(log, log->last_index);
}

int log_slice(const struct raft_log *log, uint64_t from, uint64_t max,
              struct raft_entry *scratch, uint32_t scratch_cap,
              const struct raft_entry **out)
{
    RAFT_ASSERT(from <= log->last_index);
    RAFT_ASSERT(max > 0);
    uint64_t n = RAFT_MIN(max, log->last_index - from + 1);
    if (log_in_window(log, from)) {
        uint64_t to_wrap = log->window_cap - from % log->window_cap;
        *out = log_ring_slot(log, from);
        return (int)RAFT_MIN(n, to_wrap);
    }
    n = RAFT_MIN(RAFT_MIN(n, log->window_first - from), (uint64_t)scratch_cap);
    for (uint64_t i = 0; i < n; i++) {
        int rv = log->store->entry(log->store->ctx, from + i, &scratch[i]);
        if (rv == -RAFT_ECOMPACTED && i == 0)
            return rv;
        RAFT_ASSERT(rv == 0);
        RAFT_ASSERT(scratch[i].index == from + i);
    }
    *out = scratch;
    return (int)n;
}

uint64_t log_find_term_le(const struct raft_log *log, uint64_t lo, uint64_t hi, uint64_t term)
{
    RAFT_ASSERT(lo <= hi);
    /* invariant: term(lo) <= term; answer in [lo, hi] */
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo + 1) / 2;
        if (log_term_of(log, mid) <= term)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

void log_reset(struct raft_log *log, uint64_t index, uint64_t term)
{
    log->snapshot_index = log->last_index = log->stable_index = index;
    log->snapshot_term = log->last_term = term;
    log->window_first = index + 1;
}

void log_stable_to(struct raft_log *log, uint64_t index, uint64_t term)
{
    /* The batch may have been overtaken by a truncation since; then it proves nothing. */
    if (index <= log->last_index && index > log->stable_index &&
        log_term_of(log, index) == term)
        log->stable_index = index;
}

bool log_is_up_to_date(const struct raft_log *log, uint64_t last_index, uint64_t last_term)
{
    return last_term > log->last_term ||
           (last_term == log->last_term && last_index >= log->last_index);
}
