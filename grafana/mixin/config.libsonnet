// The mixin's settings. Override any of them when importing the mixin:
//
//   (import 'mcp-exporter-mixin/mixin.libsonnet') + { _config+:: { probeSelector: 'job="mcp"' } }
//
// The defaults match examples/prometheus.yml and the demo stack; the committed boards and rules
// under grafana/ and deploy/ are generated with them (grafana/mixin/build.py).
{
  _config+:: {
    // Series of the probe jobs (Prometheus scraping /probe). Every probe rule and board query
    // is narrowed by it, so probe_success of other exporters (blackbox_exporter) is left alone.
    probeSelector: 'job=~"mcp_probe.*"',
    // Series of the exporter's own /metrics.
    exporterSelector: 'job="mcp_exporter"',
    // The label that carries the probed URL (the __param_target relabeling) and the module.
    targetLabel: 'instance',
    moduleLabel: 'module',

    // Multi-cluster Prometheus (Thanos, Mimir, ...): a cluster variable on every board, the
    // cluster label in every selector and in the links between boards and from alerts.
    showMultiCluster: false,
    clusterLabel: 'cluster',

    // Where the alerts' dashboard_url points, and where the runbooks are (a README.md section
    // per alert; the anchor is appended).
    grafanaURL: 'http://localhost:3000',
    runbookURL: 'https://github.com/mcp-exporter/mcp-exporter/blob/main/README.md',

    // Dashboard settings.
    dashboardTags: ['mcp-exporter', 'mcp', 'prometheus'],
    dashboardRefresh: '1m',
    dashboardTimezone: '',

    // Severities by kind of alert: a page, something to look at today, a note.
    severities: {
      page: 'critical',
      ticket: 'warning',
      info: 'info',
    },

    // The probe-success SLO per target: the fraction of probes that must succeed. Burn-rate
    // alerts (SRE workbook, chapter 5) use it; the error budget is 1 - sloObjective.
    sloObjective: 0.995,
    // Window pairs and burn rates: a page when 2% of a 30-day budget burns in an hour or 5% in
    // six hours, a ticket when 10% burns in a day or in three days.
    sloBurnRateWindows: [
      { long: '1h', short: '5m', factor: 14.4, 'for': '2m', severity: 'page' },
      { long: '6h', short: '30m', factor: 6, 'for': '15m', severity: 'page' },
      { long: '1d', short: '2h', factor: 3, 'for': '1h', severity: 'ticket' },
      { long: '3d', short: '6h', factor: 1, 'for': '3h', severity: 'ticket' },
    ],

    // The evaluation interval of the SLO recording rules' group (null: Prometheus' global one).
    // The 1d and 3d windows read every sample at each evaluation: with many targets, '1m'.
    sloRulesInterval: null,

    // Certificate expiry tiers, in days.
    certExpiryWarningDays: 20,
    certExpiryCriticalDays: 3,

    // Thresholds of the other alerts.
    phaseSlowSeconds: 2,
    // Negotiated MCP revisions older than the floor you want (a regex of protocol_version).
    protocolVersionsBelowFloor: '2024-11-05|2025-03-26',
    protocolVersionFloor: '2025-06-18',
  },
}
