/* What the HTTP endpoint answers: GET /metrics (the Prometheus text format: the counters of
 * metrics.c, then gauges read from the server now), /health (200 "ok" or 503 and why, by
 * health.c's rule) and /status (the node's status as `raftctl status --json` shows it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server_int.h"

static bool http_path_is(const char *path, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(path, want, len) == 0;
}

static void routes_gauge(struct strbuf *b, const char *name, const char *help, uint64_t v)
{
    prom_family(b, name, "gauge", help);
    prom_sample_u64(b, name, NULL, 0, v);
}

static void routes_peer_sample(struct strbuf *b, const char *name, uint64_t peer_id,
                               uint64_t v)
{
    char peer[24];
    snprintf(peer, sizeof peer, "%llu", (unsigned long long)peer_id);
    struct prom_label l = {"peer", peer};
    prom_sample_u64(b, name, &l, 1, v);
}

/* The leader's view of each other member: how far its log matches ours (its match index,
 * then how far behind our last index that is: a family's samples must stay together). */
static void routes_peer_progress(struct server *s, const struct raft_status *st,
                                 struct strbuf *b)
{
    struct raft_members now;
    raft_members(s->raft, &now, NULL);
    static const struct {
        const char *name, *help;
    } families[] = {
        {"luminous_peer_match_index",
         "Leader only: the highest log index known replicated on each other member."},
        {"luminous_peer_lag_entries",
         "Leader only: last_index minus each other member's match index."},
    };
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++) {
        prom_family(b, families[f].name, "gauge", families[f].help);
        for (uint32_t i = 0; st->role == RAFT_LEADER && i < now.count; i++) {
            uint64_t id = now.members[i].id, match = 0;
            if (id == st->id || raft_match_index(s->raft, id, &match) != 0)
                continue;
            uint64_t lag = st->last_index > match ? st->last_index - match : 0;
            routes_peer_sample(b, families[f].name, id, f == 0 ? match : lag);
        }
    }
}

static void routes_peers(struct server *s, const struct raft_status *st, struct strbuf *b)
{
    routes_peer_progress(s, st, b);
    prom_family(b, "luminous_peer_connected", "gauge",
                "1 while our connection to the peer is up (connected, authenticated, hello "
                "sent).");
    for (uint32_t i = 0; i < s->n_peers; i++)
        routes_peer_sample(b, "luminous_peer_connected", s->peers[i].id, s->peers[i].ready);
    prom_family(b, "luminous_peer_messages_dropped_total", "counter",
                "Messages to the peer dropped: not connected, or it does not read (Raft "
                "resends).");
    for (uint32_t i = 0; i < s->n_peers; i++)
        routes_peer_sample(b, "luminous_peer_messages_dropped_total", s->peers[i].id,
                           s->peers[i].dropped);
}

static void routes_metrics(struct server *s, struct strbuf *b)
{
    struct raft_status st;
    raft_status(s->raft, &st);
    char id[24];
    snprintf(id, sizeof id, "%llu", (unsigned long long)st.id);
    struct prom_label info[] = {{"id", id}, {"cluster", s->cfg.cluster},
                                {"state_machine", s->cfg.state_machine}};
    prom_family(b, "luminous_node_info", "gauge", "This node: its id, cluster and state machine.");
    prom_sample_u64(b, "luminous_node_info", info, 3, 1);

    static const char *const roles[] = {"follower", "candidate", "leader"};
    const char *role = st.role == RAFT_LEADER      ? "leader"
                       : st.role == RAFT_FOLLOWER ? "follower"
                                                  : "candidate"; /* pre-vote included */
    prom_family(b, "luminous_role", "gauge",
                "1 for the node's Raft role (a pre-vote campaign counts as candidate).");
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        struct prom_label l = {"role", roles[i]};
        prom_sample_u64(b, "luminous_role", &l, 1, strcmp(role, roles[i]) == 0);
    }
    routes_gauge(b, "luminous_voter", "1 if the node is a voter of the configuration, 0 if a "
                 "learner or not a member.", st.voter);
    routes_gauge(b, "luminous_term", "The current Raft term.", st.term);
    routes_gauge(b, "luminous_leader_id", "The leader this node knows (0: none).", st.leader_id);
    routes_gauge(b, "luminous_commit_index", "The highest log index known committed.",
                 st.commit_index);
    routes_gauge(b, "luminous_applied_index", "The highest log index applied to the state "
                 "machine.", st.applied_index);
    routes_gauge(b, "luminous_first_index", "The first log index still on disk (compaction "
                 "margin included).", wal_first_index(storage_wal(s->storage)));
    routes_gauge(b, "luminous_last_index", "The last log index.", st.last_index);
    routes_gauge(b, "luminous_snapshot_index", "The log index of the newest snapshot.",
                 st.snapshot_index);
    routes_gauge(b, "luminous_pending_requests", "Client requests waiting for commit or a read "
                 "barrier.", s->pending.used);
    routes_gauge(b, "luminous_disk_full", "1 while the log cannot be written (ENOSPC): writes "
                 "are refused.", s->nospace);
    routes_gauge(b, "luminous_disk_low", "1 while data_dir's free space is below the reserve: "
                 "new writes are refused.", s->disk_low);
    prom_family(b, "luminous_core_messages_dropped_total", "counter",
                "Messages the consensus core dropped because its outbox was full.");
    prom_sample_u64(b, "luminous_core_messages_dropped_total", NULL, 0, st.msgs_dropped);
    routes_peers(s, &st, b);

    uint32_t peers_out = 0, peers_in = 0;
    for (uint32_t i = 0; i < s->n_peers; i++)
        peers_out += conn_is_open(&s->peers[i].out);
    for (uint32_t i = 0; i < SERVER_INBOUND_MAX; i++)
        peers_in += s->inbound[i] != NULL;
    uint32_t resp = resp_clients_count(s);
    uint64_t open[METRICS_CONN_KINDS] = {peers_out, peers_in, s->clients_count - resp, resp,
                                         http_conns_count(s)};
    prom_family(b, "luminous_connections", "gauge", "Open connections, by kind.");
    for (uint32_t i = 0; i < METRICS_CONN_KINDS; i++) {
        struct prom_label l = {"kind", metrics_conn_names[i]};
        prom_sample_u64(b, "luminous_connections", &l, 1, open[i]);
    }
    metrics_render_counters(&s->metrics, b);
}

static int routes_health(struct server *s, struct strbuf *b)
{
    struct raft_status st;
    raft_status(s->raft, &st);
    struct health_input in = {
        .leader = st.role == RAFT_LEADER,
        .leader_id = st.leader_id,
        .commit_index = st.commit_index,
        .applied_index = st.applied_index,
        .nospace = s->nospace,
        .now_ms = clock_mono_ms(),
        .leader_heard_ms = s->metrics.leader_heard_ms,
        .leader_heard_from = s->metrics.leader_heard_from,
        .election_timeout_ms = (uint64_t)s->cfg.election_ticks * s->cfg.tick_ms,
    };
    char reason[160];
    bool ok = health_check(&in, reason, sizeof reason);
    strbuf_printf(b, "%s\n", reason);
    return ok ? 200 : 503;
}

static int routes_status(struct server *s, struct strbuf *b)
{
    struct wire_status *st = calloc(1, sizeof *st);
    if (!st) {
        b->failed = true;
        return 500;
    }
    server_fill_status(s, st);
    uint64_t lag = st->commit_index > st->applied_index ? st->commit_index - st->applied_index : 0;
    size_t n = wire_status_json(NULL, 0, st, NULL, lag);
    char *text = malloc(n + 1);
    if (text) {
        wire_status_json(text, n + 1, st, NULL, lag);
        strbuf_add(b, text, n);
        strbuf_add(b, "\n", 1);
    } else {
        b->failed = true;
    }
    free(text);
    free(st);
    return 200;
}

int http_route(struct server *s, const char *path, size_t path_len, const char **type_out,
               struct strbuf *body)
{
    if (http_path_is(path, path_len, "/metrics")) {
        *type_out = PROM_CONTENT_TYPE;
        routes_metrics(s, body);
        return 200;
    }
    if (http_path_is(path, path_len, "/health"))
        return routes_health(s, body);
    if (http_path_is(path, path_len, "/status")) {
        *type_out = "application/json";
        return routes_status(s, body);
    }
    strbuf_printf(body, "not found: try /metrics, /health or /status\n");
    return 404;
}
