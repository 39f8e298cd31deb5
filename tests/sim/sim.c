/* The deterministic cluster simulator: command line, per-seed parameters, the run loop
 * (a chaos phase of faults, then a liveness phase on a healed network).
 *
 *   sim --seed S [-v] [--nodes N] [--steps K] [--no-membership] [--no-snapshots]
 *       [--no-transfers] [--no-quorum-check]      replay one seed (-v: trace every event)
 *   sim --seeds A-B [--nodes N] [--steps K] [...] run every seed in A..B
 *
 * N is the number of initial voters; most seeds add up to two spare servers that start with
 * an empty configuration, and an operator changes the membership (joint consensus,
 * learners), hands leadership over, while nodes snapshot and compact their logs. The
 * --no-* flags turn those off.
 *
 * One line per failing seed, then "sim: N seeds, F failed"; the exit status is nonzero iff
 * F > 0. A seed's run depends on nothing but (seed, nodes, steps): one splitmix64 PRNG,
 * seeded from the seed, draws the parameters, the faults, the traffic and every core's
 * raft_config.seed. Time is logical: ticks, each cut into SIM_MICROSTEPS microsteps; each
 * node is ticked at its own microstep so messages land between ticks. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim.h"

#define LLU(x) ((unsigned long long)(x))

#define SIM_STEPS_DEFAULT 2000u
#define SIM_EXIT_USAGE    2

/* ---- helpers shared by the simulator's files ------------------------------------------------ */

void *sim_malloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p) {
        fprintf(stderr, "sim: out of memory\n");
        abort();
    }
    return p;
}

void sim_grow(void **p, uint64_t *cap, uint64_t need, size_t elem)
{
    if (need <= *cap)
        return;
    uint64_t cap2 = *cap ? *cap : 8;
    while (cap2 < need)
        cap2 *= 2;
    void *q = realloc(*p, cap2 * elem);
    if (!q) {
        fprintf(stderr, "sim: out of memory\n");
        abort();
    }
    memset((char *)q + *cap * elem, 0, (cap2 - *cap) * elem);
    *p = q;
    *cap = cap2;
}

static uint64_t hash_mix(uint64_t h, uint64_t v)
{
    h ^= v * 0x9E3779B97F4A7C15ull;
    h = (h << 27 | h >> 37) * 0xBF58476D1CE4E5B9ull;
    return h;
}

/* A 64-bit hash of type, len and the len payload bytes, eight bytes at a time. */
uint64_t entry_hash(uint16_t type, uint32_t len, const uint8_t *payload)
{
    uint64_t h = hash_mix(0x6A09E667F3BCC909ull, (uint64_t)type << 32 | len);
    uint32_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v;
        memcpy(&v, payload + i, 8);
        h = hash_mix(h, v);
    }
    uint64_t tail = 0;
    for (uint32_t k = 0; i + k < len; k++)
        tail |= (uint64_t)payload[i + k] << (8 * k);
    h = hash_mix(h, tail);
    return h ^ (h >> 31);
}

void sim_fail(struct world *w, const char *fmt, ...)
{
    if (w->failed)
        return;
    w->failed = true;
    w->fail_tick = world_tick(w);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->fail_msg, sizeof w->fail_msg, fmt, ap);
    va_end(ap);
    if (w->verbose)
        printf("%7llu.%llu FAILED: %s\n", LLU(world_tick(w)), LLU(w->now % SIM_MICROSTEPS),
               w->fail_msg);
}

void sim_trace(struct world *w, const char *fmt, ...)
{
    if (!w->verbose)
        return;
    printf("%7llu.%llu ", LLU(world_tick(w)), LLU(w->now % SIM_MICROSTEPS));
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

/* ---- the parameters of one seed ------------------------------------------------------------- */

static uint32_t pick_ppm(struct rng *g, uint32_t zero_percent, uint32_t lo, uint32_t hi)
{
    if (rng_below(g, 100) < zero_percent)
        return 0;
    return (uint32_t)rng_range(g, lo, hi);
}

struct features {
    bool membership, snapshots, transfers, quorum_check;
};

static void params_draw(struct world *w, uint32_t nodes_count, uint64_t chaos_ticks,
                        const struct features *f)
{
    struct rng *g = &w->rng;
    struct sim_params *p = &w->p;
    p->nodes_count = nodes_count;
    p->pool_count = nodes_count;
    p->chaos_ticks = chaos_ticks;

    struct raft_config *c = &p->cfg;
    raft_config_default(c, 1);
    c->election_ticks = (uint32_t)rng_range(g, 10, 20);
    c->heartbeat_ticks = (uint32_t)rng_range(g, 1, 3);
    c->max_inflight = (uint32_t)rng_range(g, 1, 8);
    c->max_batch = (uint32_t)rng_range(g, 1, 16);
    c->log_window = rng_below(g, 4) == 0 ? c->max_batch + (uint32_t)rng_range(g, 0, 8)
                                         : (uint32_t)rng_range(g, c->max_batch, 128);
    c->max_reads = rng_below(g, 4) == 0 ? (uint32_t)rng_range(g, 1, 4)
                                        : (uint32_t)rng_range(g, 16, 256);
    c->pre_vote = rng_below(g, 100) < 80;
    c->check_quorum = rng_below(g, 100) < 80;

    uint32_t election = c->election_ticks * SIM_MICROSTEPS;
    p->delay_max = rng_below(g, 2) ? (uint32_t)rng_range(g, 1, 2 * SIM_MICROSTEPS)
                                   : (uint32_t)rng_range(g, 1, election / 2);
    p->long_delay_ppm = pick_ppm(g, 40, 1000, 20000);
    p->long_delay_max = (uint32_t)rng_range(g, election, 6 * election);
    p->drop_ppm = pick_ppm(g, 30, 1000, 200000);
    p->dup_ppm = pick_ppm(g, 30, 1000, 100000);
    p->partition_ppm = pick_ppm(g, 20, 1000, 20000);
    p->crash_ppm = pick_ppm(g, 20, 500, 10000);
    p->crash_ready_ppm = pick_ppm(g, 30, 1000, 30000);
    p->restart_ticks_max = (uint32_t)rng_range(g, 1, 6 * c->election_ticks);
    p->drain_ppm = rng_below(g, 2) ? 1000000 : (uint32_t)rng_range(g, 300000, 1000000);
    p->propose_ppm = (uint32_t)rng_range(g, 20000, 400000);
    p->burst_ppm = pick_ppm(g, 30, 1000, 20000);
    p->read_ppm = (uint32_t)rng_range(g, 10000, 150000);
    p->big_payload_ppm = pick_ppm(g, 30, 1000, 100000);

    p->quorum_check = f->quorum_check;
    p->membership = f->membership && rng_below(g, 100) < 85;
    if (p->membership) {
        uint64_t r = rng_below(g, 100);
        p->pool_count = nodes_count + (r < 10 ? 0 : r < 40 ? 1 : 2);
        p->member_ppm = (uint32_t)rng_range(g, 1000, 20000);
        /* A removed server that never hears of its removal campaigns on; without pre-vote
         * and the leader-lease rule, its vote requests depose healthy leaders again and
         * again (thesis §4.2.3): Raft as specified, not a bug, but no liveness to check. */
        if (!c->pre_vote && !c->check_quorum)
            c->check_quorum = true;
    }
    p->transfer_ppm = f->transfers ? pick_ppm(g, 20, 200, 5000) : 0;
    if (f->snapshots && rng_below(g, 100) < 90) {
        p->snap_every = rng_below(g, 4) == 0 ? (uint32_t)rng_range(g, 5, 20)
                                             : (uint32_t)rng_range(g, 20, 200);
        p->snap_margin_max = rng_below(g, 3) == 0 ? 0 : (uint32_t)rng_range(g, 1, p->snap_every);
    }
    if (p->snap_every)
        p->snap_delay_max = (uint32_t)rng_range(g, 1, 3 * election);

    SIM_TRACE(w, "seed %llu: %u nodes, %llu chaos ticks; election %u heartbeat %u inflight %u "
              "batch %u window %u reads %u pre_vote %d check_quorum %d", LLU(w->seed),
              nodes_count, LLU(chaos_ticks), c->election_ticks, c->heartbeat_ticks,
              c->max_inflight, c->max_batch, c->log_window, c->max_reads, c->pre_vote,
              c->check_quorum);
    SIM_TRACE(w, "  net: delay 1..%u us, long %u ppm up to %u us, drop %u ppm, dup %u ppm, "
              "partition %u ppm/tick (us = microstep, %u per tick)", p->delay_max,
              p->long_delay_ppm, p->long_delay_max, p->drop_ppm, p->dup_ppm, p->partition_ppm,
              SIM_MICROSTEPS);
    SIM_TRACE(w, "  faults: crash %u ppm/tick, in-batch crash %u ppm/batch, down 1..%u ticks, "
              "drain %u ppm; client: propose %u burst %u read %u big %u ppm", p->crash_ppm,
              p->crash_ready_ppm, p->restart_ticks_max, p->drain_ppm, p->propose_ppm,
              p->burst_ppm, p->read_ppm, p->big_payload_ppm);
    SIM_TRACE(w, "  membership: %s, %u servers, change %u ppm; transfer %u ppm; snapshot every "
              "%u applied, margin 0..%u, transfer up to %u us", p->membership ? "on" : "off",
              p->pool_count, p->member_ppm, p->transfer_ppm, p->snap_every, p->snap_margin_max,
              p->snap_delay_max);
}

/* ---- the world ------------------------------------------------------------------------------ */

static void world_init(struct world *w, uint64_t seed, bool verbose, uint32_t nodes_count,
                       uint64_t chaos_ticks, const struct features *f)
{
    memset(w, 0, sizeof *w);
    w->seed = seed;
    w->verbose = verbose;
    w->rng.state = seed ^ 0x6A09E667F3BCC909ull;
    params_draw(w, nodes_count, chaos_ticks, f);
    w->initial.count = nodes_count;
    for (uint32_t i = 0; i < nodes_count; i++)
        w->initial.members[i] = (struct raft_member){.id = i + 1, .role = RAFT_VOTER};
    net_init(w);
    client_init(w);
    check_init(w);
    for (uint32_t i = 1; i <= w->p.pool_count; i++)
        node_init(w, &w->nodes[i], i);
    for (uint32_t i = 1; i <= w->p.pool_count && !w->failed; i++)
        node_start(w, &w->nodes[i]);
}

/* destroy_cores is false after a core aborted: its state can no longer be trusted. */
static void world_free(struct world *w, bool destroy_cores)
{
    for (uint32_t i = 1; i <= w->p.pool_count; i++) {
        if (!destroy_cores)
            w->nodes[i].r = NULL;
        node_free(&w->nodes[i]);
    }
    net_free(w);
    client_free(w);
    check_free(w);
}

static struct node *world_leader(struct world *w)
{
    struct node *best = NULL;
    for (uint32_t i = 1; i <= w->p.pool_count; i++) {
        struct node *n = &w->nodes[i];
        if (node_is_leader(n) && (!best || n->st.term > best->st.term))
            best = n;
    }
    return best;
}

static void world_faults(struct world *w)
{
    if (rng_ppm(&w->rng, w->p.partition_ppm))
        net_chaos(w);
    if (rng_ppm(&w->rng, w->p.crash_ppm)) {
        struct node *n = world_leader(w);
        if (!n || rng_below(&w->rng, 2))
            n = &w->nodes[rng_range(&w->rng, 1, w->p.pool_count)];
        if (n->r)
            node_crash(w, n, n->st.role == RAFT_LEADER ? "(the leader)" : "between batches");
    }
}

/* One microstep: faults and restarts at tick boundaries, deliveries, ticks of the nodes
 * whose phase this is, client traffic, then each node drains its ready batches. */
static void world_microstep(struct world *w)
{
    uint32_t n = w->p.pool_count;
    uint64_t micro = w->now % SIM_MICROSTEPS;
    if (micro == 0) {
        if (!w->liveness)
            world_faults(w);
        for (uint32_t i = 1; i <= n && !w->failed; i++)
            if (!w->nodes[i].r && w->nodes[i].restart_tick <= world_tick(w))
                node_start(w, &w->nodes[i]);
        if (!w->failed)
            client_check_transfer(w);
    }
    net_deliver_due(w);

    uint32_t order[SIM_POOL_MAX];
    for (uint32_t i = 0; i < n; i++)
        order[i] = i + 1;
    for (uint32_t i = n; i > 1; i--) {
        uint32_t j = (uint32_t)rng_below(&w->rng, i);
        uint32_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    for (uint32_t i = 0; i < n && !w->failed; i++) {
        struct node *nd = &w->nodes[order[i]];
        if (nd->r && nd->phase == micro)
            node_tick(w, nd);
    }
    if (!w->liveness && !w->failed)
        client_act(w);
    for (uint32_t i = 0; i < n && !w->failed; i++) {
        struct node *nd = &w->nodes[order[i]];
        if (nd->r && (w->liveness || rng_ppm(&w->rng, w->p.drain_ppm)))
            node_drain(w, nd);
    }
    w->now++;
}

/* ---- the liveness phase --------------------------------------------------------------------- */

enum live_stage { LIVE_PROPOSE, LIVE_ACK, LIVE_APPLY, LIVE_READ, LIVE_SETTLE, LIVE_DONE };

/* The members of the leader's configuration (both during a joint phase): the servers that
 * must keep up. Removed servers are exempt, whatever they believe. */
static void world_members(const struct node *leader, bool *members)
{
    struct raft_members cur, old;
    raft_members(leader->r, &cur, &old);
    memset(members, 0, (SIM_POOL_MAX + 1) * sizeof *members);
    for (uint32_t i = 0; i < cur.count; i++)
        members[cur.members[i].id] = true;
    for (uint32_t i = 0; i < old.count; i++)
        members[old.members[i].id] = true;
}

/* Heal everything, then within a bound a leader must exist, a new proposal must be
 * acknowledged and applied by every member of its configuration, and a read must complete;
 * then, once no membership change is under way, the cluster must settle: the same leader,
 * the same term for every member, for four election timeouts (servers removed without
 * knowing it may keep trying elections, but must not win or bump anyone's term; only a
 * leadership transfer asked for before healing, landing late, may hand over). The bound
 * is generous (50 worst-case election timeouts, plus time to catch every node up one entry
 * per round trip, plus messages still in flight) so that a healthy cluster never misses it. */
static void world_liveness(struct world *w)
{
    const struct raft_config *c = &w->p.cfg;
    w->liveness = true;
    net_heal(w);
    if (w->p.delay_max > SIM_MICROSTEPS)
        w->p.delay_max = SIM_MICROSTEPS;
    SIM_TRACE(w, "LIVENESS: healed, every node up, no drops, delay <= 1 tick");
    for (uint32_t i = 1; i <= w->p.pool_count && !w->failed; i++)
        if (!w->nodes[i].r)
            node_start(w, &w->nodes[i]);

    uint64_t last = 0, term = 0;
    for (uint32_t i = 1; i <= w->p.pool_count; i++) {
        const struct node *n = &w->nodes[i];
        last = n->disk.last_index > last ? n->disk.last_index : last;
        last = n->st.last_index > last ? n->st.last_index : last;
        term = n->st.term > term ? n->st.term : term;
    }
    uint64_t rtt = 2 * (w->p.delay_max / SIM_MICROSTEPS + 1) + c->heartbeat_ticks + 2;
    uint64_t in_flight = (net_last_delivery(w) - w->now) / SIM_MICROSTEPS + 1;
    uint64_t bound = in_flight + 100 * (uint64_t)c->election_ticks + (last + term + 32) * rtt * 2;
    uint64_t start = world_tick(w), deadline = start + bound;

    enum live_stage stage = LIVE_PROPOSE;
    uint64_t marker = 0, marker_index = 0, read_pos = 0, settle_until = 0;
    uint64_t settle_leader = 0, settle_term = 0, settle_from = 0;
    bool members[SIM_POOL_MAX + 1] = {false};
    while (!w->failed && stage != LIVE_DONE && world_tick(w) < deadline) {
        if (w->now % SIM_MICROSTEPS == 0) {
            struct node *leader = world_leader(w);
            const struct proposal *mp = stage == LIVE_ACK ? &w->cl.props[marker] : NULL;
            switch (stage) {
            case LIVE_ACK:
                if (mp->state == PROP_ACKED) {
                    marker_index = mp->index;
                    stage = LIVE_APPLY;
                    SIM_TRACE(w, "LIVENESS: marker acknowledged at %llu", LLU(marker_index));
                    break;
                }
                /* lost, or stranded on a node that no longer leads: propose again */
                if (mp->state == PROP_PENDING && w->nodes[mp->node].st.role == RAFT_LEADER)
                    break;
                stage = LIVE_PROPOSE;
                /* fall through */
            case LIVE_PROPOSE:
                if (leader && client_propose(w, leader, &marker) == 0)
                    stage = LIVE_ACK;
                break;
            case LIVE_APPLY: {
                bool all = leader != NULL;
                if (leader)
                    world_members(leader, members);
                for (uint32_t i = 1; i <= w->p.pool_count && all; i++)
                    all = !members[i] || w->nodes[i].applied >= marker_index;
                if (all && leader && client_read(w, leader) == 0) {
                    read_pos = w->cl.reads_count - 1;
                    stage = LIVE_READ;
                }
                break;
            }
            case LIVE_READ:
                if (w->cl.reads[read_pos].state == READ_FAILED)
                    stage = LIVE_APPLY;
                if (w->cl.reads[read_pos].state != READ_DONE)
                    break;
                stage = LIVE_SETTLE;
                SIM_TRACE(w, "LIVENESS: read done; settling");
                /* fall through */
            case LIVE_SETTLE:
                if (settle_leader && w->timeout_now_at > settle_from) {
                    /* a handover asked for before healing landed late: settle again */
                    SIM_TRACE(w, "LIVENESS: a transfer landed while settling; again");
                    settle_leader = 0;
                }
                if (settle_leader && (!leader || leader->id != settle_leader ||
                                      leader->st.term != settle_term)) {
                    sim_fail(w, "liveness: the leadership changed while settling (leader %llu "
                             "in term %llu, now %s%llu in term %llu): terms did not stabilise",
                             LLU(settle_leader), LLU(settle_term), leader ? "" : "none, ",
                             LLU(leader ? leader->id : 0), LLU(leader ? leader->st.term : 0));
                    break;
                }
                if (!settle_leader) {
                    /* a change under way may still remove the leader, a transfer that
                     * just landed hand it over: let them finish */
                    uint64_t handover = w->timeout_now_at +
                                        2 * (uint64_t)c->election_ticks * SIM_MICROSTEPS;
                    if (leader && !leader->st.changing && leader->st.voter &&
                        (!w->timeout_now_at || w->now > handover)) {
                        settle_leader = leader->id;
                        settle_term = leader->st.term;
                        settle_from = w->now;
                        settle_until = world_tick(w) + 4 * (uint64_t)c->election_ticks;
                    }
                    break;
                }
                if (world_tick(w) < settle_until)
                    break;
                world_members(leader, members);
                for (uint32_t i = 1; i <= w->p.pool_count && !w->failed; i++)
                    if (members[i] && w->nodes[i].st.term != settle_term)
                        sim_fail(w, "liveness: member %u is in term %llu after settling, the "
                                 "leader %llu in term %llu", i, LLU(w->nodes[i].st.term),
                                 LLU(settle_leader), LLU(settle_term));
                stage = LIVE_DONE;
                break;
            case LIVE_DONE:
                break;
            }
        }
        if (stage != LIVE_DONE && !w->failed)
            world_microstep(w);
    }
    if (w->failed)
        return;
    if (stage != LIVE_DONE) {
        struct node *leader = world_leader(w);
        char who[96] = "no leader";
        if (leader)
            snprintf(who, sizeof who, "leader %llu in term %llu, commit %llu", LLU(leader->id),
                     LLU(leader->st.term), LLU(leader->st.commit_index));
        const char *what = stage == LIVE_PROPOSE ? "no leader accepted a proposal"
                         : stage == LIVE_ACK     ? "the marker proposal was not acknowledged"
                         : stage == LIVE_APPLY   ? "not every member applied the marker"
                         : stage == LIVE_READ    ? "the read did not complete"
                                                 : "settling did not finish";
        if (leader)
            world_members(leader, members);
        uint64_t low = 0;
        for (uint32_t i = 1; i <= w->p.pool_count; i++)
            if ((members[i] || !leader) && (!low || w->nodes[i].applied < w->nodes[low].applied))
                low = i;
        sim_fail(w, "liveness: %s within %llu ticks of healing (%s; marker index %llu; node "
                 "%llu applied only %llu)", what, LLU(bound), who, LLU(marker_index), LLU(low),
                 LLU(low ? w->nodes[low].applied : 0));
        return;
    }
    SIM_TRACE(w, "LIVENESS: ok after %llu ticks (bound %llu)", LLU(world_tick(w) - start),
              LLU(bound));
    client_check_final(w, members);
}

/* ---- a seed's run, with a guard against the core aborting ----------------------------------- */

/* The only process-wide state: where to go when a core assertion calls abort(), and what
 * to report. Set for each seed and cleared after it; no seed sees another's. */
static struct {
    sigjmp_buf env;
    volatile sig_atomic_t armed;
    struct world *w;
} sim_guard;

static void sim_on_abort(int sig)
{
    (void)sig;
    if (sim_guard.armed) {
        sim_guard.armed = 0;
        siglongjmp(sim_guard.env, 1);
    }
    signal(SIGABRT, SIG_DFL);
    raise(SIGABRT);
}

#ifndef __SANITIZE_ADDRESS__ /* ASan reports these itself, with more to say */
static void sim_on_fatal(int sig)
{
    char buf[160];
    int k = 0;
    if (sim_guard.w)
        k = snprintf(buf, sizeof buf, "sim: seed %llu CRASHED with signal %d at tick %llu\n",
                     LLU(sim_guard.w->seed), sig, LLU(world_tick(sim_guard.w)));
    if (k > 0)
        (void)!write(2, buf, (size_t)k);
    signal(sig, SIG_DFL);
    raise(sig);
}
#endif

struct run_opts {
    const char *argv0;
    uint32_t nodes_count;
    uint64_t chaos_ticks;
    bool verbose;
    struct features features;
};

static void report_fail(const struct run_opts *o, uint64_t seed, uint64_t tick,
                        const char *msg)
{
    printf("sim: seed %llu FAILED at tick %llu: %s (replay: %s --seed %llu --nodes %u "
           "--steps %llu%s%s%s%s -v)\n", LLU(seed), LLU(tick), msg, o->argv0, LLU(seed),
           o->nodes_count, LLU(o->chaos_ticks),
           o->features.membership ? "" : " --no-membership",
           o->features.snapshots ? "" : " --no-snapshots",
           o->features.transfers ? "" : " --no-transfers",
           o->features.quorum_check ? "" : " --no-quorum-check");
    fflush(stdout);
}

/* Runs one seed; true if it passed. */
static bool run_seed(const struct run_opts *o, uint64_t seed)
{
    struct world *w = sim_malloc(sizeof *w);
    sim_guard.w = w;
    if (sigsetjmp(sim_guard.env, 1)) {
        char msg[SIM_FAIL_SIZE + 64];
        if (w->failed)
            snprintf(msg, sizeof msg, "%s; then the process aborted", w->fail_msg);
        else
            snprintf(msg, sizeof msg, "the process aborted (a core assertion?)");
        report_fail(o, seed, world_tick(w), msg);
        world_free(w, false);
        free(w);
        sim_guard.w = NULL;
        return false;
    }
    sim_guard.armed = 1;
    world_init(w, seed, o->verbose, o->nodes_count, o->chaos_ticks, &o->features);
    while (!w->failed && world_tick(w) < o->chaos_ticks)
        world_microstep(w);
    if (!w->failed)
        world_liveness(w);
    sim_guard.armed = 0;

    bool ok = !w->failed;
    if (!ok)
        report_fail(o, seed, w->fail_tick, w->fail_msg);
    else if (o->verbose)
        printf("sim: seed %llu ok: %llu ticks, %llu leaderships, %llu of %llu proposals "
               "acknowledged, %llu reads, %llu msgs (%llu lost, %llu dup), committed %llu; "
               "%llu membership changes, %llu of %llu transfers done, %llu snapshots taken, "
               "%llu of %llu sent landed, %llu installed\n",
               LLU(seed), LLU(world_tick(w)), LLU(w->chk.leaders_count), LLU(w->cl.acked_count),
               LLU(w->cl.props_count), LLU(w->cl.reads_done_count), LLU(w->net.sent_count),
               LLU(w->net.dropped_count), LLU(w->net.dup_count), LLU(w->chk.committed_max),
               LLU(w->cl.changes_count), LLU(w->cl.transfers_done_count),
               LLU(w->cl.transfers_count), LLU(w->chk.snaps_taken_count),
               LLU(w->net.snaps_landed_count), LLU(w->net.snaps_sent_count),
               LLU(w->chk.snaps_installed_count));
    world_free(w, true);
    free(w);
    sim_guard.w = NULL;
    return ok;
}

/* ---- command line --------------------------------------------------------------------------- */

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s --seed S [-v] [--nodes N] [--steps K] [OPTIONS]\n"
            "       %s --seeds A-B [--nodes N] [--steps K] [OPTIONS]\n"
            "  N: initial voters, 1..%u (default 3); up to %u spare servers may join;\n"
            "  K: ticks of the chaos phase (default %u)\n"
            "  OPTIONS: --no-membership (fixed voters, no spares), --no-snapshots (no\n"
            "  snapshots or compaction), --no-transfers (no leadership transfers),\n"
            "  --no-quorum-check (no direct check that commits rest on a durable quorum:\n"
            "  for mutation tests, to see the end-to-end invariants alone catch a bug)\n",
            argv0, argv0, SIM_NODES_MAX, SIM_EXTRA_MAX, SIM_STEPS_DEFAULT);
    exit(SIM_EXIT_USAGE);
}

static bool parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || *s == '-')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

int main(int argc, char **argv)
{
    struct run_opts o = {.argv0 = argv[0], .nodes_count = 3, .chaos_ticks = SIM_STEPS_DEFAULT,
                         .features = {.membership = true, .snapshots = true, .transfers = true,
                                      .quorum_check = true}};
    uint64_t first = 0, last = 0, v = 0;
    bool have_seeds = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *arg = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-v") == 0) {
            o.verbose = true;
        } else if (strcmp(a, "--no-membership") == 0) {
            o.features.membership = false;
        } else if (strcmp(a, "--no-snapshots") == 0) {
            o.features.snapshots = false;
        } else if (strcmp(a, "--no-transfers") == 0) {
            o.features.transfers = false;
        } else if (strcmp(a, "--no-quorum-check") == 0) {
            o.features.quorum_check = false;
        } else if (strcmp(a, "--seed") == 0 && !have_seeds && parse_u64(arg, &first)) {
            last = first;
            have_seeds = true;
            i++;
        } else if (strcmp(a, "--seeds") == 0 && !have_seeds && arg) {
            char buf[64];
            snprintf(buf, sizeof buf, "%s", arg);
            char *dash = strchr(buf, '-');
            if (!dash)
                usage(argv[0]);
            *dash = '\0';
            if (!parse_u64(buf, &first) || !parse_u64(dash + 1, &last) || last < first)
                usage(argv[0]);
            have_seeds = true;
            i++;
        } else if (strcmp(a, "--nodes") == 0 && parse_u64(arg, &v) && v >= 1 &&
                   v <= SIM_NODES_MAX) {
            o.nodes_count = (uint32_t)v;
            i++;
        } else if (strcmp(a, "--steps") == 0 && parse_u64(arg, &v) && v >= 1 && v <= 10000000) {
            o.chaos_ticks = v;
            i++;
        } else {
            usage(argv[0]);
        }
    }
    if (!have_seeds)
        usage(argv[0]);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = sim_on_abort;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGABRT, &sa, NULL);
#ifndef __SANITIZE_ADDRESS__
    sa.sa_handler = sim_on_fatal;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGFPE, &sa, NULL);
#endif

    uint64_t count = 0, failed = 0;
    for (uint64_t seed = first;; seed++) {
        count++;
        if (!run_seed(&o, seed))
            failed++;
        if (seed == last)
            break;
    }
    printf("sim: %llu seeds, %llu failed\n", LLU(count), LLU(failed));
    return failed ? 1 : 0;
}
