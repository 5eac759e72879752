// Small helpers for the rules: durations, the per-target wording of annotations, links.
{
  // A Prometheus duration ('5m', '1h', '3d') in seconds, to order the SLO windows.
  seconds(d)::
    local units = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
    std.parseInt(std.substr(d, 0, std.length(d) - 1)) * units[d[std.length(d) - 1]],

  // The unique windows of the burn-rate pairs, shortest first.
  sloWindows(config)::
    local all = std.flattenArrays([[w.long, w.short] for w in config.sloBurnRateWindows]);
    std.sort(std.set(all, $.seconds), $.seconds),

  // Probe alerts are written for the default labels (job, instance); these rewrite them for the
  // configured target label and, on multi-cluster setups, add the cluster to the queries that
  // annotations run for the same probe.
  probeAnnotations(config, annotations)::
    local t = config.targetLabel;
    local cl = config.clusterLabel;
    local multi = config.showMultiCluster;
    local rewrite(text) =
      local a = std.strReplace(text, 'job=%q,instance=%q', (if multi then cl + '=%q,' else '') + 'job=%q,' + t + '=%q');
      local b = std.strReplace(a, '$labels.job $labels.instance', (if multi then '$labels.' + cl + ' ' else '') + '$labels.job $labels.' + t);
      std.strReplace(b, '$labels.instance', '$labels.' + t);
    { [k]: rewrite(annotations[k]) for k in std.objectFields(annotations) },

  // dashboard_url of a board: the job and target of the alert (and its cluster), or none.
  boardURL(config, uid, target=true)::
    local params =
      (if target then ['var-job={{ $labels.job }}', 'var-target={{ $labels.%s | urlquery }}' % config.targetLabel] else [])
      + (if config.showMultiCluster then ['var-cluster={{ $labels.%s }}' % config.clusterLabel] else []);
    config.grafanaURL + '/d/' + uid + (if params == [] then '' else '?' + std.join('&', params)),

  // dashboard_url of the overview's exporter row for the exporter instance of the alert.
  exporterBoardURL(config)::
    config.grafanaURL + '/d/mcp-exporter-overview?var-instance={{ $labels.instance | urlquery }}'
    + (if config.showMultiCluster then '&var-cluster={{ $labels.%s }}' % config.clusterLabel else ''),

  // runbook_url: the README section named after the alert (GitHub's anchor of "### Name").
  runbook(config, alert):: config.runbookURL + '#' + std.asciiLower(alert),
}
