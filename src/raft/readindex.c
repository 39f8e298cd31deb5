/* Linearizable reads without log writes: ReadIndex (thesis §6.4).
 *
 * A read asked at the leader is tagged with the commit index and the next heartbeat
 * round. Once a majority has answered a heartbeat of that round, no other leader can have
 * existed when the read was asked, so the state at the commit index is current: the shell
 * serves it after applying that far. All reads of one loop turn share one round. Reads wait
 * for the leader's first commit of its term, before which its commit index may be stale. */
#include "raft_int.h"

static struct raft_pending_read *readindex_at(struct raft *r, uint32_t i)
{
    return &r->reads[(r->reads_start + i) % r->cfg.max_reads];
}

int readindex_request(struct raft *r, uint64_t ctx)
{
    if (r->role != RAFT_LEADER)
        return -RAFT_ENOTLEADER;
    /* answers waiting in reads_out count too: together they never exceed max_reads */
    if (r->reads_count + r->reads_out_count >= r->cfg.max_reads)
        return -RAFT_EBUSY;
    *readindex_at(r, r->reads_count) = (struct raft_pending_read){.ctx = ctx};
    r->reads_count++;
    return 0;
}

static void readindex_answer(struct raft *r, uint64_t ctx, uint64_t index, int status)
{
    RAFT_ASSERT(r->reads_out_count < r->cfg.max_reads);
    r->reads_out[r->reads_out_count++] = (struct raft_read){.ctx = ctx, .index = index,
                                                            .status = status};
}

static void readindex_pop(struct raft *r)
{
    r->reads_start = (r->reads_start + 1) % r->cfg.max_reads;
    r->reads_count--;
}

void readindex_flush(struct raft *r)
{
    RAFT_ASSERT(r->role == RAFT_LEADER);
    if (!r->committed_in_term || r->reads_count == 0)
        return;
    bool new_round = false;
    for (uint32_t i = 0; i < r->reads_count; i++) {
        struct raft_pending_read *rd = readindex_at(r, i);
        if (rd->round == 0) {
            rd->index = r->commit_index;
            rd->round = r->read_round + 1;
            new_round = true;
        }
    }
    if (new_round) {
        r->read_round++;
        struct progress *self = raft_progress(r, r->id);
        if (self) /* absent once a leader removed itself, before it steps down */
            self->read_acked = r->read_round;
        replication_broadcast_heartbeat(r);
    }
    uint64_t confirmed = quorum_read_round(r);
    while (r->reads_count > 0 && readindex_at(r, 0)->round != 0 &&
           readindex_at(r, 0)->round <= confirmed) {
        struct raft_pending_read *rd = readindex_at(r, 0);
        readindex_answer(r, rd->ctx, rd->index, 0);
        readindex_pop(r);
    }
}

void readindex_fail_all(struct raft *r)
{
    while (r->reads_count > 0) {
        readindex_answer(r, readindex_at(r, 0)->ctx, 0, -RAFT_ENOTLEADER);
        readindex_pop(r);
    }
}
