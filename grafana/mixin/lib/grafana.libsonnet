// What every board shares: the datasource reference, the selectors and label names derived from
// the mixin's config, the template variables, and the dashboard frame.
{
  datasource:: { type: 'prometheus', uid: '${datasource}' },

  // The strings board queries are written with ('...%(probe)s...' % s):
  //   probe      the selected probe series: job and target variables (and cluster)
  //   exporter   the selected exporter series: the exporter selector and instance variable
  //   target     the label name of the probed URL; module the module label name
  //   clusterVar the cluster variable for links to another board ('' on one cluster)
  // `target` is 'multi' on boards that select many targets, 'single' on the one-target board.
  selectors(config, target='multi'):: {
    local c = config,
    local cluster = if c.showMultiCluster then '%s="$cluster", ' % c.clusterLabel else '',
    local op = if target == 'single' then '=' else '=~',
    probe: cluster + 'job=~"$job", %s%s"$target"' % [c.targetLabel, op],
    exporter: cluster + '%s, instance=~"$instance"' % c.exporterSelector,
    target: c.targetLabel,
    module: c.moduleLabel,
    clusterVar: if c.showMultiCluster then '&var-cluster=${cluster}' else '',
    // For variable queries: the cluster matcher alone, with its separator.
    cluster:: cluster,
    multiTarget:: target != 'single',
  },

  local queryVariable(name, label, description, query, multi=true) = {
    name: name,
    label: label,
    description: description,
    type: 'query',
    datasource: $.datasource,
    definition: query,
    query: query,
    refresh: 2,
    regex: '',
    sort: 1,
    multi: multi,
    includeAll: multi,
    current: {},
    options: [],
    hide: 0,
  },

  // The template variables, in order: datasource, [cluster,] then those named in `names`
  // (job, target, instance).
  variables(config, s, names):: [
    {
      name: 'datasource',
      label: 'Data source',
      type: 'datasource',
      query: 'prometheus',
      current: {},
      hide: 0,
      refresh: 1,
      regex: '',
      options: [],
      includeAll: false,
      multi: false,
    },
  ] + (
    if config.showMultiCluster then [
      queryVariable(
        'cluster',
        'Cluster',
        'The cluster label of the probe series (multi-cluster Prometheus, Thanos, Mimir).',
        'label_values(probe_success{%s}, %s)' % [config.probeSelector, config.clusterLabel],
        multi=false,
      ),
    ] else []
  ) + [
    {
      job: queryVariable(
        'job',
        'Job',
        'Prometheus jobs that scrape /probe (one per module in examples/prometheus.yml).',
        'label_values(probe_success{%s%s}, job)' % [s.cluster, config.probeSelector],
      ),
      target: queryVariable(
        'target',
        'Target',
        (if s.multiTarget then 'Probed URLs' else 'The probed URL')
        + ' (the %s label set by the __param_target relabeling).' % config.targetLabel,
        'label_values(probe_success{%sjob=~"$job"}, %s)' % [s.cluster, config.targetLabel],
        multi=s.multiTarget,
      ),
      instance: queryVariable(
        'instance',
        'Exporter',
        'Exporter instances, for the Exporter row (their own /metrics).',
        'label_values(mcp_exporter_build_info{%s%s}, instance)' % [s.cluster, config.exporterSelector],
      ),
    }[name]
    for name in names
  ],

  // A board from its own fields, variables and panels; tags, refresh and timezone from the config.
  dashboard(config, fields, variables, panels):: fields {
    id: null,
    tags: config.dashboardTags,
    refresh: config.dashboardRefresh,
    timezone: config.dashboardTimezone,
    templating: { list: variables },
    panels: panels,
  },
}
