// The mcp-exporter monitoring mixin: Grafana boards, recording rules and alerts from one config.
//
//   local mcp = (import 'mixin.libsonnet') + { _config+:: { probeSelector: 'job="mcp"' } };
//   mcp.grafanaDashboards   // {'mcp-overview.json': {...}, ...}
//   mcp.prometheusRules     // recording rules (the SLO error ratios)
//   mcp.prometheusAlerts    // alerting rules
(import 'config.libsonnet')
+ (import 'dashboards/dashboards.libsonnet')
+ (import 'rules/rules.libsonnet')
+ (import 'alerts/alerts.libsonnet')
+ (import 'dashboards/appended.libsonnet')
+ (import 'alerts/appended.libsonnet')
