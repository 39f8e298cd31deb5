/* What the leader knows of each follower: how far its log matches, where to send next, and
 * how many appends are in flight (the flow control that lets appends pipeline). */
#include "raft_int.h"

void progress_reset(struct progress *pr, uint64_t id, uint64_t next_index)
{
    pr->id = id;
    pr->match_index = 0;
    pr->next_index = next_index;
    pr->state = PROGRESS_PROBE;
    pr->probe_sent = pr->append_due = false;
    pr->recent_active = true; /* a new leader gives everyone a full timeout */
    pr->voted = pr->granted = false;
    pr->read_acked = 0;
    pr->commit_sent = 0;
    pr->inflight.start = pr->inflight.count = 0;
}

void progress_become_probe(struct progress *pr)
{
    pr->state = PROGRESS_PROBE;
    pr->next_index = pr->match_index + 1;
    pr->probe_sent = false;
    pr->inflight.start = pr->inflight.count = 0;
}

void progress_become_replicate(struct progress *pr)
{
    pr->state = PROGRESS_REPLICATE;
    pr->next_index = pr->match_index + 1;
    pr->probe_sent = false;
    pr->inflight.start = pr->inflight.count = 0;
}

bool progress_paused(const struct progress *pr)
{
    if (pr->state == PROGRESS_PROBE)
        return pr->probe_sent;
    if (pr->state == PROGRESS_SNAPSHOT)
        return true; /* until the shell reports the transfer */
    return inflights_full(&pr->inflight);
}

bool inflights_full(const struct inflights *in)
{
    return in->count == in->cap;
}

void inflights_add(struct inflights *in, uint64_t last_index)
{
    RAFT_ASSERT(!inflights_full(in));
    RAFT_ASSERT(in->count == 0 ||
                in->last_index[(in->start + in->count - 1) % in->cap] <= last_index);
    in->last_index[(in->start + in->count) % in->cap] = last_index;
    in->count++;
}

/* An acknowledgement up to index frees every append that carried nothing beyond it. */
void inflights_free_to(struct inflights *in, uint64_t index)
{
    while (in->count > 0 && in->last_index[in->start] <= index) {
        in->start = (in->start + 1) % in->cap;
        in->count--;
    }
}

/* A heartbeat answer proves the follower is alive, so one lost append must not stall the
 * pipe forever: free a slot and let the next append (or its refusal) resynchronize. */
void inflights_free_first(struct inflights *in)
{
    if (in->count > 0) {
        in->start = (in->start + 1) % in->cap;
        in->count--;
    }
}
