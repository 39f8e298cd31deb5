/* The server: drives the consensus core from the event loop. Each loop turn reads and
 * steps what arrived, then drains the core's ready batches in the order the batch
 * contract demands (raft.h): early messages, persist + one fdatasync, messages that
 * promise durability, apply and answer, advance. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "luminous/kv.h"
#include "server_int.h"

int server_propose(struct server *s, uint16_t type, uint64_t client_id, uint64_t seq,
                   const void *body, uint32_t len, uint64_t *index_out)
{
    int refused = len > LUM_COMMAND_BODY_MAX ? -LUM_ETOOBIG : server_refusal(s);
    if (refused == 0 && s->disk_low) { /* a follower's raft_propose says NOT_LEADER, with the hint */
        struct raft_status st;
        raft_status(s->raft, &st);
        if (st.role == RAFT_LEADER)
            refused = -LUM_ENOSPC;
    }
    if (refused != 0) {
        metrics_proposal(&s->metrics, refused);
        return refused;
    }
    struct raft_entry *e = &s->propose_entry;
    int rv = lum_command_build(e, client_id, seq, clock_wall_ms(), body, len);
    if (rv == 0)
        rv = raft_propose(s->raft, type, e->payload, e->len, index_out);
    metrics_proposal(&s->metrics, rv);
    return rv;
}

int server_refusal(struct server *s)
{
    if (!s->nospace)
        return 0;
    struct raft_status st;
    raft_status(s->raft, &st);
    return st.role == RAFT_LEADER ? -LUM_ENOSPC : -LUM_ENOTLEADER;
}

void server_fill_status(struct server *s, struct wire_status *st)
{
    struct raft_status rs;
    raft_status(s->raft, &rs);
    st->id = rs.id;
    st->role = rs.role;
    st->voter = rs.voter;
    st->term = rs.term;
    st->leader_id = rs.leader_id;
    st->commit_index = rs.commit_index;
    st->applied_index = rs.applied_index;
    st->first_index = wal_first_index(storage_wal(s->storage)); /* the margin included */
    st->last_index = rs.last_index;
    st->snapshot_index = rs.snapshot_index;
    st->db_size = storage_disk_bytes(s->storage);
    struct raft_members now;
    raft_members(s->raft, &now, NULL);
    st->n_members = now.count;
    for (uint32_t i = 0; i < now.count; i++) {
        const struct server_member *m = server_member(s, now.members[i].id);
        struct wire_member *w = &st->members[i];
        w->id = now.members[i].id;
        w->role = now.members[i].role;
        w->match_index = 0;
        raft_match_index(s->raft, w->id, &w->match_index);
        snprintf(w->peer_addr, sizeof w->peer_addr, "%s", m ? m->peer_addr : "");
        snprintf(w->client_addr, sizeof w->client_addr, "%s", m ? m->client_addr : "");
    }
}

/* ---- applying committed entries and answering ------------------------------------------------ */

static void server_answer(struct server *s, struct pending *pd, int status,
                          const struct lum_result *res)
{
    struct client *c = clients_get(s, pd->client_slot, pd->client_gen);
    if (!c)
        return; /* gone; its request still took effect if it was a write */
    c->pending--;
    struct wire_response rs = {.request_id = pd->request_id, .status = status};
    if (res) {
        rs.code = res->code;
        rs.data = res->data;
        rs.data_len = res->len;
    }
    if (status == -LUM_ENOTLEADER)
        clients_leader_hint(s, &rs);
    clients_respond(s, c, &rs);
}

static void server_answer_read(struct server *s, struct pending *pd)
{
    struct lum_result res = {0};
    int rv = s->fsm_ops->query(s->fsm, pending_query(pd), pd->query_len, clock_wall_ms(), &res);
    server_answer(s, pd, rv, &res);
}

/* A configuration change reached the state machine: it is the one in force at the applied
 * index (what a snapshot records), and it brings the addresses of new members. */
static void server_apply_members(struct server *s, const struct raft_entry *e)
{
    const uint8_t *ctx;
    uint32_t ctx_len;
    if (raft_members_decode(e->payload, e->len, &s->members, &s->members_old, &ctx,
                            &ctx_len) != 0 ||
        book_apply(s, ctx, ctx_len) != 0)
        lum_warn("entry %llu: a configuration we cannot read", (unsigned long long)e->index);
    for (uint32_t i = 0; i < s->members.count; i++)
        peers_ensure(s, s->members.members[i].id);
}

/* Runs one committed entry through the session table and the state machine. */
static void server_apply_entry(struct server *s, const struct raft_entry *e, int *status_out,
                               struct lum_result *res)
{
    *status_out = 0;
    *res = (struct lum_result){0};
    if (e->type == RAFT_ENTRY_MEMBERS)
        server_apply_members(s, e);
    if (e->type < RAFT_ENTRY_APP_MIN)
        return; /* NOOP and friends carry nothing for the machine */
    struct lum_command cmd;
    if (lum_command_parse(e, &cmd) != 0) {
        *status_out = -LUM_EMALFORMED;
        return;
    }
    struct session *sess = cmd.client_id ? session_find(&s->sessions, cmd.client_id) : NULL;
    if (sess && cmd.seq <= sess->seq) {
        /* a retry of a write already applied: answer as the first time (thesis §6.3) */
        if (cmd.seq == sess->seq)
            *res = (struct lum_result){.code = sess->code, .data = sess->data,
                                       .len = sess->data_len};
        else
            *status_out = -LUM_EINVAL; /* older than the client's latest: it gave up on it */
        return;
    }
    int rv = s->fsm_ops->apply(s->fsm, e, res);
    if (rv != 0) {
        lum_error("state machine failed applying entry %llu: %s", (unsigned long long)e->index,
                  lum_strerror(rv));
        exit(1);
    }
    if (cmd.client_id)
        session_record(&s->sessions, cmd.client_id, cmd.seq, res);
}

static void server_apply(struct server *s, const struct raft_entry *e)
{
    int status;
    struct lum_result res;
    s->metrics.entries_applied++;
    server_apply_entry(s, e, &status, &res);
    /* res points into the machine, which the reads below use: keep a copy */
    uint8_t data[SESSION_DATA_MAX];
    if (res.len > 0 && res.len <= sizeof data) {
        memcpy(data, res.data, res.len);
        res.data = data;
    }
    uint32_t slot;
    while (pending_heap_pop_upto(&s->pending, e->index, &slot)) {
        struct pending *pd = &s->pending.slots[slot];
        if (pd->kind == PENDING_READ_APPLY) {
            server_answer_read(s, pd);
        } else if (pd->index == e->index && pd->term == e->term) {
            metrics_outcome(&s->metrics, METRICS_OUT_APPLIED);
            server_answer(s, pd, status, &res);
        } else { /* another leader's entry took that index: ours is lost, retry there */
            metrics_outcome(&s->metrics, METRICS_OUT_LOST);
            server_answer(s, pd, -LUM_ENOTLEADER, NULL);
        }
        pending_release(&s->pending, slot);
    }
}

/* A snapshot replaced everything up to upto: reads there can be served, writes there have
 * an outcome we cannot know (the client retries; its session keeps that safe). */
static void server_settle_pending(struct server *s, uint64_t upto)
{
    uint32_t slot;
    while (pending_heap_pop_upto(&s->pending, upto, &slot)) {
        struct pending *pd = &s->pending.slots[slot];
        if (pd->kind == PENDING_READ_APPLY) {
            server_answer_read(s, pd);
        } else {
            metrics_outcome(&s->metrics, METRICS_OUT_UNKNOWN);
            server_answer(s, pd, -LUM_ENOTLEADER, NULL);
        }
        pending_release(&s->pending, slot);
    }
}

static void server_on_reads(struct server *s, const struct raft_ready *rd, uint64_t applied)
{
    for (uint32_t i = 0; i < rd->n_reads; i++) {
        const struct raft_read *r = &rd->reads[i];
        if (r->ctx & ADMIN_READ_CTX) {
            admin_read_done(s, r);
            continue;
        }
        struct pending *pd = pending_get(&s->pending, r->ctx);
        if (!pd || pd->kind != PENDING_READ_BARRIER)
            continue;
        uint32_t slot = (uint32_t)r->ctx;
        if (r->status != 0) {
            server_answer(s, pd, r->status, NULL);
        } else if (r->index <= applied) {
            server_answer_read(s, pd);
        } else {
            pd->kind = PENDING_READ_APPLY;
            pd->index = r->index;
            pending_heap_push(&s->pending, slot);
            continue;
        }
        pending_release(&s->pending, slot);
    }
}

static void server_log_role(struct server *s)
{
    struct raft_status st;
    raft_status(s->raft, &st);
    if (st.role == s->last_role && st.leader_id == s->last_leader_id)
        return;
    if (st.role == RAFT_LEADER)
        lum_info("became leader of term %llu", (unsigned long long)st.term);
    else if (st.leader_id && st.leader_id != s->last_leader_id)
        lum_info("following node %llu, term %llu", (unsigned long long)st.leader_id,
                 (unsigned long long)st.term);
    s->last_role = st.role;
    s->last_leader_id = st.leader_id;
}

/* What a ready batch asks after its early messages: persist, then send what promises
 * durability, apply, answer, advance. false when the disk is full: the batch is kept in
 * s->nospace_rd for server_retry_persist, and none of it is done. Nothing of it was
 * acknowledged (its messages wait, its committed entries are not applied), and the failed
 * append was rolled back, so persisting the same batch again later is safe; a kill -9
 * meanwhile loses only what no one was told is durable. */
static bool server_finish_ready(struct server *s, struct raft_ready *rd)
{
    if (rd->hard_state_changed || rd->n_entries) {
        struct lum_err err;
        int rv = storage_persist(s->storage, rd, &err);
        if (rv == -LUM_ENOSPC) {
            if (!s->nospace) {
                lum_error("no space left on device: %s; refusing writes and linearizable reads, "
                          "answering stale reads, retrying every tick", err.msg);
                s->nospace = true;
                s->nospace_rd = *rd;
                s->nospace_since_ms = clock_mono_ms();
            }
            return false;
        }
        if (rv != 0) {
            /* nothing of this batch was acknowledged: stopping loses nothing */
            lum_error("cannot persist the log: %s; stopping", err.msg);
            exit(1);
        }
        metrics_fsync(&s->metrics, storage_last_sync_ns(s->storage));
        if (rd->n_entries)
            metrics_append_batch(&s->metrics, rd->n_entries);
        if (s->nospace) {
            lum_info("space again: the log is written after %llu ms; accepting writes",
                     (unsigned long long)(clock_mono_ms() - s->nospace_since_ms));
            s->nospace = false;
        }
    }
    for (uint32_t i = 0; i < rd->n_msgs; i++)
        peers_send(s, &rd->msgs[i]);
    for (uint32_t i = 0; i < rd->n_committed; i++)
        server_apply(s, &rd->committed[i]);
    struct raft_status st;
    raft_status(s->raft, &st);
    server_on_reads(s, rd, st.applied_index + rd->n_committed);
    raft_advance(s->raft, rd);
    return true;
}

/* A timer tick while the disk is full: the pending batch once more. */
static bool server_retry_persist(struct server *s)
{
    if (!server_finish_ready(s, &s->nospace_rd))
        return false;
    if (s->nospace_reap) {
        s->nospace_reap = false;
        int status;
        if (s->snap_child && waitpid(s->snap_child, &status, WNOHANG) == s->snap_child)
            snapshot_reaped(s, status);
    }
    return true;
}

static void server_drain(struct server *s)
{
    struct raft_ready rd;
    if (s->nospace)
        goto flush; /* the core holds a batch we could not persist: leave it be */
again:
    while (raft_ready(s->raft, &rd)) {
        if (rd.snapshot) {
            snapshot_install(s, rd.snapshot);
            server_settle_pending(s, rd.snapshot->index);
        }
        for (uint32_t i = 0; i < rd.n_msgs_now; i++)
            peers_send(s, &rd.msgs_now[i]);
        if (rd.n_msgs_now)
            peers_flush(s); /* followers write while we fsync (thesis §10.2.1) */
        if (!server_finish_ready(s, &rd))
            goto flush;
    }
    if (peers_pump_snapshots(s))
        goto again;
    admin_progress(s);
    struct raft_status st;
    raft_status(s->raft, &st);
    if (s->cfg.snapshot_entries && !s->snap_child &&
        st.applied_index >= s->snap_index + s->cfg.snapshot_entries)
        snapshot_start(s);
flush:
    peers_flush(s);
    resp_flush(s);
    clients_flush(s);
    http_flush(s);
    server_log_role(s);
}

/* ---- timers and signals ---------------------------------------------------------------------- */

/* Free space in data_dir against the reserve, once in a while; logged when it changes. */
static void server_check_disk(struct server *s, uint64_t now)
{
    if (s->disk_checked_ms && now - s->disk_checked_ms < SERVER_DISK_CHECK_MS)
        return;
    s->disk_checked_ms = now;
    struct statvfs vfs;
    if (statvfs(s->cfg.data_dir, &vfs) != 0)
        return; /* the log's own writes will tell */
    uint64_t free_bytes = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    bool low = free_bytes < SERVER_DISK_RESERVE_BYTES;
    if (low && !s->disk_low)
        lum_warn("%s: %llu bytes free, below the reserve of %llu: refusing new writes",
                 s->cfg.data_dir, (unsigned long long)free_bytes,
                 (unsigned long long)SERVER_DISK_RESERVE_BYTES);
    else if (!low && s->disk_low)
        lum_info("%s: %llu bytes free again: accepting writes", s->cfg.data_dir,
                 (unsigned long long)free_bytes);
    s->disk_low = low;
}

static int server_housekeeping_propose(void *ctx, uint16_t type, const void *body, uint32_t len)
{
    return server_propose(ctx, type, 0, 0, body, len, NULL);
}

static void server_on_timer(struct loop_watch *w, uint32_t events)
{
    struct server *s = SERVER_CONTAINER_OF(w, struct server, timer);
    (void)events;
    uint64_t n = timer_read_expirations(w->fd);
    /* after a long stall (SIGSTOP, swap) time did pass, but not a flood of elections */
    if (n > 2ull * s->cfg.election_ticks)
        n = 2ull * s->cfg.election_ticks;
    if (s->nospace && !server_retry_persist(s))
        n = 0; /* the core holds its batch: no time passes for it */
    for (uint64_t i = 0; i < n; i++)
        raft_tick(s->raft);
    peers_maintain(s);
    /* one compacted segment file per tick: deleting them all at once stalls the loop */
    struct lum_err err;
    bool failed;
    wal_trim_step(storage_wal(s->storage), &err, &failed);
    if (failed)
        lum_warn("log compaction: %s", err.msg);
    uint64_t now = clock_mono_ms();
    server_check_disk(s, now);
    limits_tick(s, now);
    backup_tick(s, now);
    http_tick(s, now);
    if (s->stopping) {
        struct raft_status st;
        raft_status(s->raft, &st);
        if (st.role != RAFT_LEADER || now >= s->stop_deadline_ms)
            server_stop(s);
    }
    if (!s->nospace && s->fsm_ops->housekeeping &&
        now - s->last_housekeeping_ms >= SERVER_HOUSEKEEPING_MS) {
        s->last_housekeeping_ms = now;
        struct raft_status st;
        raft_status(s->raft, &st);
        if (st.role == RAFT_LEADER) {
            struct lum_proposer p = {.ctx = s, .propose = server_housekeeping_propose};
            s->fsm_ops->housekeeping(s->fsm, clock_wall_ms(), &p);
        }
    }
}

/* A leader that is asked to stop hands leadership to its most up-to-date voter first, so
 * the cluster does not wait an election timeout (thesis §3.10). */
static void server_shutdown(struct server *s)
{
    if (s->nospace) { /* the core cannot be asked for a transfer now */
        server_stop(s);
        return;
    }
    struct raft_status st;
    raft_status(s->raft, &st);
    struct raft_members now;
    raft_members(s->raft, &now, NULL);
    uint64_t best = 0, best_match = 0;
    for (uint32_t i = 0; st.role == RAFT_LEADER && i < now.count; i++) {
        uint64_t id = now.members[i].id, match = 0;
        if (id != s->cfg.id && now.members[i].role == RAFT_VOTER &&
            raft_match_index(s->raft, id, &match) == 0 && (best == 0 || match > best_match)) {
            best = id;
            best_match = match;
        }
    }
    if (best && !s->stopping && raft_transfer_leader(s->raft, best) == 0) {
        lum_info("handing leadership to node %llu before stopping", (unsigned long long)best);
        s->stopping = true;
        s->stop_deadline_ms = clock_mono_ms() + 2ull * s->cfg.election_ticks * s->cfg.tick_ms;
        return;
    }
    server_stop(s);
}

static void server_on_signal(struct loop_watch *w, uint32_t events)
{
    struct server *s = SERVER_CONTAINER_OF(w, struct server, signals);
    (void)events;
    struct signalfd_siginfo si;
    while (read(w->fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGCHLD) {
            if (s->nospace) { /* reaping tells the core of the snapshot: not now */
                s->nospace_reap = true;
                continue;
            }
            int status;
            if (s->snap_child && waitpid(s->snap_child, &status, WNOHANG) == s->snap_child)
                snapshot_reaped(s, status);
            continue;
        }
        lum_info("signal %s: shutting down", strsignal((int)si.ssi_signo));
        server_shutdown(s);
    }
}

/* ---- life cycle ------------------------------------------------------------------------------- */

static int server_watch(struct server *s, struct loop_watch *w, int fd, loop_fn *fn)
{
    w->fd = fd;
    w->fn = fn;
    return loop_add(&s->loop, w, EPOLLIN);
}

static int server_open_fds(struct server *s, struct lum_err *err)
{
    int rv = loop_init(&s->loop, err);
    if (rv != 0)
        return rv;
    int fd = timer_open(s->cfg.tick_ms, err);
    if (fd < 0 || server_watch(s, &s->timer, fd, server_on_timer) != 0)
        return -LUM_EIO;
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0 || server_watch(s, &s->signals, fd, server_on_signal) != 0) {
        lum_errf(err, "signalfd: %s", strerror(errno));
        return -LUM_EIO;
    }
    fd = net_listen(&s->cfg.peer_listen, err);
    if (fd < 0 || server_watch(s, &s->peer_listen, fd, peers_on_accept) != 0)
        return -LUM_EIO;
    fd = net_listen(&s->cfg.client_listen, err);
    if (fd < 0 || server_watch(s, &s->client_listen, fd, clients_on_accept) != 0)
        return -LUM_EIO;
    return 0;
}

static int server_open_raft(struct server *s, struct lum_err *err)
{
    struct storage_options opts;
    storage_options_default(&opts);
    opts.segment_entries = s->cfg.segment_entries;
    struct raft_boot boot;
    uint64_t t0 = clock_mono_ms();
    int rv = storage_open(s->cfg.data_dir, &opts, &s->storage, &boot, err);
    if (rv != 0)
        return rv;
    uint64_t t1 = clock_mono_ms();
    const struct snap_meta *snap = storage_snapshot(s->storage);
    if (snap->index > 0 && (rv = snapshot_load(s, snap, err)) != 0)
        return rv;
    lum_info("recovered the log in %llu ms, loaded snapshot %llu in %llu ms",
             (unsigned long long)(t1 - t0), (unsigned long long)snap->index,
             (unsigned long long)(clock_mono_ms() - t1));
    if (snap->index == 0) { /* a new cluster: its members are the config file's */
        boot.members.count = s->cfg.n_members;
        for (uint32_t i = 0; i < s->cfg.n_members; i++)
            boot.members.members[i] = (struct raft_member){.id = s->cfg.members[i].id,
                                                           .role = RAFT_VOTER};
        s->members = boot.members;
    }
    for (uint32_t i = 0; i < s->cfg.n_members; i++) /* addresses the book does not have */
        if (!server_member(s, s->cfg.members[i].id))
            book_set(s, s->cfg.members[i].id, s->cfg.members[i].peer_addr,
                     s->cfg.members[i].client_addr);
    wal_log_store(storage_wal(s->storage), &s->log_store);
    struct raft_config rc;
    raft_config_default(&rc, s->cfg.id);
    rc.election_ticks = s->cfg.election_ticks;
    rc.heartbeat_ticks = s->cfg.heartbeat_ticks;
    rc.max_inflight = s->cfg.max_inflight;
    rc.max_batch = s->cfg.max_batch;
    rc.log_window = s->cfg.log_window;
    rc.max_reads = s->cfg.max_pending;
    rc.seed = clock_wall_ms() ^ ((uint64_t)getpid() << 32) ^ s->cfg.id;
    s->raft = raft_create(&rc, &boot, &s->log_store);
    if (!s->raft) {
        lum_errf(err, "out of memory creating the consensus core");
        return -LUM_ENOMEM;
    }
    snapshot_exclude_from_child(s);
    lum_info("started: term %llu, vote %llu, log %llu..%llu, %u members%s",
             (unsigned long long)boot.hard_state.term,
             (unsigned long long)boot.hard_state.voted_for,
             (unsigned long long)boot.snapshot_index + 1, (unsigned long long)boot.last_index,
             boot.members.count, boot.members.count ? "" : " (idle until added)");
    return 0;
}

int server_create(const struct server_config *cfg, struct server **out, struct lum_err *err)
{
    struct server *s = calloc(1, sizeof *s);
    if (!s) {
        lum_errf(err, "out of memory");
        return -LUM_ENOMEM;
    }
    s->cfg = *cfg;
    s->timer.fd = s->signals.fd = s->peer_listen.fd = s->client_listen.fd = -1;
    s->loop.epfd = -1;
    s->fsm_ops = cfg->fsm_ops ? cfg->fsm_ops : lum_fsm_find(cfg->state_machine);
    LUM_ASSERT(s->fsm_ops != NULL);
    s->fsm = s->fsm_ops->create();
    metrics_init(&s->metrics);
    s->decode_entries = calloc(WIRE_BATCH_MAX, sizeof *s->decode_entries);
    s->chunk_buf = malloc(WIRE_SNAP_CHUNK_MAX);
    int rv = -LUM_ENOMEM;
    if (!s->fsm || !s->decode_entries || !s->chunk_buf || session_init(&s->sessions, SERVER_SESSIONS_MAX) != 0 ||
        pending_init(&s->pending, cfg->max_pending) != 0) {
        lum_errf(err, "out of memory");
        goto err_destroy;
    }
    rv = server_open_raft(s, err);
    if (rv == 0)
        rv = server_open_fds(s, err);
    if (rv == 0)
        rv = peers_init(s, err);
    if (rv == 0)
        rv = clients_init(s, err);
    if (rv == 0)
        rv = resp_init(s, err);
    if (rv == 0)
        rv = http_init(s, err);
    if (rv != 0)
        goto err_destroy;
    *out = s;
    return 0;

err_destroy:
    server_destroy(s);
    return rv;
}

int server_run(struct server *s)
{
    peers_maintain(s);
    while (!s->loop.stop) {
        if (loop_run_once(&s->loop, -1) != 0)
            return 1;
        server_drain(s);
    }
    return s->exit_code;
}

void server_stop(struct server *s)
{
    s->loop.stop = true;
}

static void server_close_watch(struct server *s, struct loop_watch *w)
{
    if (w->fd >= 0) {
        loop_del(&s->loop, w);
        close(w->fd);
        w->fd = -1;
    }
}

void server_destroy(struct server *s)
{
    if (!s)
        return;
    if (s->snap_child > 0) { /* a half-written snapshot is only a temporary file */
        kill(s->snap_child, SIGKILL);
        waitpid(s->snap_child, NULL, 0);
    }
    peers_close(s);
    clients_close(s);
    backup_close(s);
    resp_close(s);
    http_close(s);
    server_close_watch(s, &s->timer);
    server_close_watch(s, &s->signals);
    server_close_watch(s, &s->peer_listen);
    server_close_watch(s, &s->client_listen);
    loop_close(&s->loop);
    raft_destroy(s->raft);
    storage_close(s->storage);
    if (s->fsm)
        s->fsm_ops->destroy(s->fsm);
    session_free(&s->sessions);
    pending_free_all(&s->pending);
    free(s->decode_entries);
    free(s->chunk_buf);
    free(s);
}
