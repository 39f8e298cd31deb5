/* The server's counters and histograms for GET /metrics, and their text. The server bumps
 * them where things happen (clients.c, server.c, snapshot.c, peers.c); nothing here does
 * I/O, and the consensus core knows nothing of them. Names and meanings are listed in the
 * README ("Monitoring"). */
#include <stdio.h>
#include <time.h>

#include "server_int.h"

/* Bucket bounds. A local SSD syncs in tens of microseconds to a few milliseconds, a
 * network disk in tens; a second is a disk in trouble. */
static const double metrics_fsync_bounds[] = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
    0.5, 1, 2.5,
};
/* A ready batch carries at most a message's worth (max_batch, WIRE_BATCH_MAX) per peer. */
static const double metrics_batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
static const double metrics_snapshot_bounds[] = {
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
};
static const int metrics_http_codes[METRICS_HTTP_CODES] = {200, 400, 404, 405, 408,
                                                           413, 431, 503, 505, 0};

#define METRICS_COUNT(a) ((uint32_t)(sizeof(a) / sizeof((a)[0])))

static uint64_t metrics_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void metrics_init(struct server_metrics *m)
{
    *m = (struct server_metrics){0};
    prom_hist_init(&m->fsync_seconds, metrics_fsync_bounds, METRICS_COUNT(metrics_fsync_bounds));
    prom_hist_init(&m->append_entries, metrics_batch_bounds, METRICS_COUNT(metrics_batch_bounds));
    prom_hist_init(&m->snapshot_seconds, metrics_snapshot_bounds,
                   METRICS_COUNT(metrics_snapshot_bounds));
}

void metrics_proposal(struct server_metrics *m, int rv)
{
    enum metrics_proposal k;
    switch (rv) {
    case 0:                 k = METRICS_PROP_ACCEPTED; break;
    case -LUM_ENOTLEADER:   k = METRICS_PROP_NOT_LEADER; break;
    case -LUM_ENOSPC:       k = METRICS_PROP_NO_SPACE; break;
    case -LUM_ETOOBIG:      k = METRICS_PROP_TOO_BIG; break;
    case -LUM_EBUSY:        k = METRICS_PROP_BUSY; break;
    default:                k = METRICS_PROP_OTHER; break;
    }
    m->proposals[k]++;
}

void metrics_fsync(struct server_metrics *m, uint64_t ns)
{
    prom_hist_observe(&m->fsync_seconds, (double)ns / 1e9);
}

void metrics_snapshot_started(struct server_metrics *m)
{
    m->snapshot_started_ns = metrics_now_ns();
}

void metrics_snapshot_done(struct server_metrics *m, bool ok)
{
    if (ok) {
        m->snapshots_ok++;
        if (m->snapshot_started_ns)
            prom_hist_observe(&m->snapshot_seconds,
                              (double)(metrics_now_ns() - m->snapshot_started_ns) / 1e9);
    } else {
        m->snapshots_failed++;
    }
    m->snapshot_started_ns = 0;
}

void metrics_leader_heard(struct server_metrics *m, uint64_t from)
{
    m->leader_heard_ms = clock_mono_ms();
    m->leader_heard_from = from;
}

void metrics_http_response(struct server_metrics *m, int status)
{
    uint32_t i = 0;
    while (i + 1 < METRICS_HTTP_CODES && metrics_http_codes[i] != status)
        i++;
    m->http_responses[i]++;
}

/* ---- the text -------------------------------------------------------------------------------- */

static void metrics_labelled(struct strbuf *b, const char *name, const char *type,
                             const char *help, const char *label, const char *const *values,
                             const uint64_t *counts, uint32_t n)
{
    prom_family(b, name, type, help);
    for (uint32_t i = 0; i < n; i++) {
        struct prom_label l = {label, values[i]};
        prom_sample_u64(b, name, &l, 1, counts[i]);
    }
}

const char *const metrics_conn_names[METRICS_CONN_KINDS] = {"peer_out", "peer_in", "client",
                                                            "resp", "http"};

void metrics_render_counters(const struct server_metrics *m, struct strbuf *b)
{
    static const char *const requests[METRICS_REQ_KINDS] = {
        "command", "query", "query_stale", "status", "members", "transfer", "snapshot", "backup",
        "invalid",
    };
    static const char *const proposals[METRICS_PROP_KINDS] = {
        "accepted", "not_leader", "no_space", "too_big", "busy", "other",
    };
    static const char *const outcomes[METRICS_OUT_KINDS] = {"applied", "lost", "unknown"};
    metrics_labelled(b, "luminous_client_requests_total", "counter",
                     "Client protocol requests received, by type.", "type", requests,
                     m->requests, METRICS_REQ_KINDS);
    metrics_labelled(b, "luminous_proposals_total", "counter",
                     "Proposals to the log, by the consensus core's answer (accepted, or why "
                     "refused).", "result", proposals, m->proposals, METRICS_PROP_KINDS);
    metrics_labelled(b, "luminous_proposal_outcomes_total", "counter",
                     "Accepted client writes by outcome: applied, lost to another leader's "
                     "entry, or unknown (covered by a snapshot).", "outcome", outcomes,
                     m->outcomes, METRICS_OUT_KINDS);
    prom_family(b, "luminous_entries_applied_total", "counter",
                "Committed log entries applied to the state machine by this node.");
    prom_sample_u64(b, "luminous_entries_applied_total", NULL, 0, m->entries_applied);
    metrics_labelled(b, "luminous_received_bytes_total", "counter",
                     "Bytes read from connections, by kind of connection.", "kind", metrics_conn_names,
                     m->bytes_in, METRICS_CONN_KINDS);
    metrics_labelled(b, "luminous_sent_bytes_total", "counter",
                     "Bytes written to connections, by kind of connection.", "kind", metrics_conn_names,
                     m->bytes_out, METRICS_CONN_KINDS);
    prom_histogram(b, "luminous_fsync_duration_seconds",
                   "Time to make one ready batch durable (fdatasync of the log segments and "
                   "the meta file).", &m->fsync_seconds);
    prom_histogram(b, "luminous_append_batch_entries",
                   "Log entries persisted per ready batch (one fdatasync each).",
                   &m->append_entries);
    prom_family(b, "luminous_snapshots_total", "counter",
                "Snapshots of the state machine written by this node, by result.");
    struct prom_label l = {"result", "ok"};
    prom_sample_u64(b, "luminous_snapshots_total", &l, 1, m->snapshots_ok);
    l.value = "failed";
    prom_sample_u64(b, "luminous_snapshots_total", &l, 1, m->snapshots_failed);
    prom_family(b, "luminous_snapshots_installed_total", "counter",
                "Snapshots received from the leader and installed.");
    prom_sample_u64(b, "luminous_snapshots_installed_total", NULL, 0, m->snapshots_installed);
    prom_histogram(b, "luminous_snapshot_duration_seconds",
                   "Time to write a snapshot, from the fork to the child's exit (written ones).",
                   &m->snapshot_seconds);
    prom_family(b, "luminous_http_responses_total", "counter",
                "HTTP responses sent by this endpoint, by status code.");
    for (uint32_t i = 0; i < METRICS_HTTP_CODES; i++) {
        char code[16];
        snprintf(code, sizeof code, "%d", metrics_http_codes[i]);
        struct prom_label c = {"code", metrics_http_codes[i] ? code : "other"};
        prom_sample_u64(b, "luminous_http_responses_total", &c, 1, m->http_responses[i]);
    }
}
