/* The rule behind GET /health, apart from the server so its cases are unit-tested. A load
 * balancer or an orchestrator asks it "may I send this node traffic?": yes when the node
 * knows a leader, has heard from it recently (or is it), and has applied everything it
 * knows to be committed, so a stale read there is no older than its commit index. */
#include <stdio.h>

#include "http_int.h"

bool health_check(const struct health_input *in, char *reason, size_t cap)
{
    if (in->nospace) {
        snprintf(reason, cap, "disk full: the log cannot be written");
        return false;
    }
    if (in->leader_id == 0) {
        snprintf(reason, cap, "no leader");
        return false;
    }
    if (!in->leader) {
        if (in->leader_heard_from != in->leader_id || in->leader_heard_ms == 0) {
            snprintf(reason, cap, "no contact with leader %llu yet",
                     (unsigned long long)in->leader_id);
            return false;
        }
        uint64_t silent_ms = in->now_ms - in->leader_heard_ms;
        if (in->now_ms >= in->leader_heard_ms && silent_ms > in->election_timeout_ms) {
            snprintf(reason, cap, "no contact with leader %llu for %llu ms",
                     (unsigned long long)in->leader_id, (unsigned long long)silent_ms);
            return false;
        }
    }
    if (in->applied_index < in->commit_index) {
        snprintf(reason, cap, "applying: %llu entries behind",
                 (unsigned long long)(in->commit_index - in->applied_index));
        return false;
    }
    snprintf(reason, cap, "ok");
    return true;
}
