// Alerts added to the groups of alerts.libsonnet, each placed after a related alert of its group:
// the tool surface and spec deviations of a target, the gateway's own health view of its servers,
// and the exporter's service discovery. Like the others they read the configured selectors, take
// their severity from config.severities and link their board and README runbook.
local util = import '../lib/util.libsonnet';

// A description written on several lines reads as one line, as YAML's folded style would.
local fold(text) = std.join(' ', [std.stripChars(l, ' ') for l in std.split(text, '\n') if std.stripChars(l, ' ') != '']);

{
  local c = $._config,
  local probeRules(rules) = [
    r { annotations: util.probeAnnotations(c, super.annotations) + { runbook_url: util.runbook(c, r.alert) } }
    for r in rules
  ],
  local exporterRules(rules) = [
    r { annotations+: { runbook_url: util.runbook(c, r.alert) } }
    for r in rules
  ],

  // The query of an exporter alert's annotation for the same exporter instance and source; the
  // job comes from the alert's series, so it holds for any exporter selector.
  local cluster = if c.showMultiCluster then { match: c.clusterLabel + '=%q,', arg: '$labels.' + c.clusterLabel + ' ' } else { match: '', arg: '' },
  local sdListAge =
    '(printf "time() - mcp_exporter_sd_last_success_timestamp_seconds{' + cluster.match
    + 'job=%q,instance=%q,source=%q}" ' + cluster.arg + '$labels.job $labels.instance $labels.source)',

  // Group name -> [alert to insert after, the rules]; an anchor the group lacks appends them.
  local additions = {
    'mcp-exporter.probes': ['MCPToolListChanged', probeRules([
      {
        alert: 'MCPToolListGrew',
        // 25% growth within a day; min_over_time keeps it firing for a day after a step up.
        expr: 'probe_mcp_tools_definition_bytes{%(probeSelector)s} > 1.25 * min_over_time(probe_mcp_tools_definition_bytes{%(probeSelector)s}[1d])' % c,
        'for': '15m',
        labels: { severity: c.severities.ticket },
        annotations: {
          summary: 'Tool list of {{ $labels.instance }} grew by more than 25% in a day',
          description: fold(|||
            The canonical tool list of {{ $labels.instance }} is now {{ $value | humanize1024 }}B, more
            than 25% above its smallest size in the last day. Every agent request through a client that
            loads these tools pays for it in context tokens and latency. Check which tools were added
            (`mcp-exporter probe {{ $labels.instance }} --json`), whether a new upstream joined a gateway,
            and whether descriptions grew unexpectedly (a tool-poisoning attempt looks like this too).
          |||),
          dashboard_url: util.boardURL(c, 'mcp-exporter-target'),
        },
      },
      {
        alert: 'MCPToolSchemaInvalid',
        expr: 'probe_mcp_tool_schemas_invalid{%(probeSelector)s} > 0' % c,
        'for': '15m',
        labels: { severity: c.severities.ticket },
        annotations: {
          summary: '{{ $labels.instance }} lists {{ $value }} tool(s) with an invalid schema',
          description: fold(|||
            {{ $value }} tool(s) of {{ $labels.instance }} have an inputSchema or outputSchema that is not
            a valid JSON Schema object schema for its dialect (2020-12 unless $schema names another).
            Clients that validate schemas refuse such tools, and models are given wrong argument shapes.
            Run `mcp-exporter probe {{ $labels.instance }}` or /probe?debug=true: the log names each tool,
            the schema field and the first problem found.
          |||),
          dashboard_url: util.boardURL(c, 'mcp-exporter-target'),
        },
      },
      {
        alert: 'MCPSpecDeviation',
        expr: 'probe_mcp_spec_deviation{%(probeSelector)s} == 1' % c,
        'for': '30m',
        labels: { severity: c.severities.info },
        annotations: {
          summary: '{{ $labels.instance }} breaks the MCP spec rule {{ $labels.rule }}',
          description: fold(|||
            The {{ $labels.job }} probe of {{ $labels.instance }} has seen the server break the spec rule
            {{ $labels.rule }} for 30 minutes. The probe tolerates it, but stricter clients may not.
            Check the rule's spec reference in the README ("Spec deviations") and the probe's log
            (`mcp-exporter probe {{ $labels.instance }}` or /probe?debug=true shows the answer that broke
            it), then report it to the server's maintainers or fix the proxy in front of it.
          |||),
          dashboard_url: util.boardURL(c, 'mcp-exporter-target'),
        },
      },
    ])],
    'mcp-exporter.gateway': ['MCPGatewayUpstreamNotOk', probeRules([
      {
        alert: 'MCPGatewayServerUnhealthy',
        expr: 'probe_litellm_server_health{%(probeSelector)s, status="unhealthy"} == 1' % c,
        'for': '5m',
        labels: { severity: c.severities.ticket },
        annotations: {
          summary: 'LiteLLM at {{ $labels.instance }} reports MCP server {{ $labels.server }} unhealthy',
          description: fold(|||
            The gateway {{ $labels.instance }} has reported its MCP server {{ $labels.server }} as
            unhealthy at /v1/mcp/server/health for 5 minutes: calls through it fail in the LiteLLM UI,
            the playground and every client. Check the upstream itself (probe its URL directly, as the
            upstreams job of examples/prometheus-litellm-sd.yml does), the credentials LiteLLM holds for
            it (auth_type, per-request headers it cannot send during a health check), and the gateway's
            logs for the connection error.
          |||),
          dashboard_url: util.boardURL(c, 'mcp-exporter-gateway-auth'),
        },
      },
    ])],
    'mcp-exporter.exporter': ['MCPExporterConfigReloadFailed', exporterRules([
      {
        alert: 'MCPServiceDiscoveryFailing',
        expr: 'mcp_exporter_sd_last_refresh_successful{%(exporterSelector)s} == 0' % c,
        'for': '10m',
        labels: { severity: c.severities.ticket },
        annotations: {
          summary: 'Service discovery source {{ $labels.source }} of {{ $labels.instance }} is failing',
          // The age's template follows "list" and precedes the comma with no space between.
          description: fold(|||
            The exporter {{ $labels.instance }} has not refreshed the target list of /sd source
            {{ $labels.source }} from its LiteLLM gateway for 10 minutes; Prometheus keeps getting the
            last good list
          |||) + '{{ with query ' + sdListAge + ' }}{{ with first . }} (fetched {{ .Value | humanizeDuration }} ago){{ end }}{{ end }}'
          + fold(|||
            , so servers added or removed since are not seen. Check the exporter's log (service
            discovery refresh failed), the source's url and api_key (the key must be allowed to list
            servers), and that the gateway answers /v1/mcp/server.
          |||),
          dashboard_url: util.exporterBoardURL(c),
        },
      },
    ])],
  },

  local insert(rules, anchor, extra) =
    local at = [i for i in std.range(0, std.length(rules) - 1) if std.objectHas(rules[i], 'alert') && rules[i].alert == anchor];
    if at == [] then rules + extra
    else rules[:at[0] + 1] + extra + rules[at[0] + 1:],

  prometheusAlerts+:: {
    groups: [
      if std.objectHas(additions, group.name)
      then group { rules: insert(super.rules, additions[group.name][0], additions[group.name][1]) }
      else group
      for group in super.groups
    ],
  },
}
