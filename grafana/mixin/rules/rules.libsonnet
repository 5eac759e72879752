// Recording rules: the error ratio of each probe series (per job, target and module) over every
// window the burn-rate alerts use. 1 - avg_over_time(probe_success) is the fraction of probes
// that failed; a failed scrape stores no probe_success and is MCPProbeScrapeFailing's business.
// The sample counts tell the alerts how much of a window a target's history fills.
local util = import '../lib/util.libsonnet';
{
  prometheusRules+:: {
    groups+: [
      {
        name: 'mcp-exporter.slo.rules',
        [if $._config.sloRulesInterval != null then 'interval']: $._config.sloRulesInterval,
        rules: [
          {
            record: 'target:probe_success:error_ratio%s' % window,
            expr: '1 - avg_over_time(probe_success{%s}[%s])' % [$._config.probeSelector, window],
          }
          for window in util.sloWindows($._config)
        ] + [
          {
            record: 'target:probe_success:samples%s' % window,
            expr: 'count_over_time(probe_success{%s}[%s])' % [$._config.probeSelector, window],
          }
          for window in util.sloWindows($._config)
        ],
      },
    ],
  },
}
