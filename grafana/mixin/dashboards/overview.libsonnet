// The MCP exporter / Overview board (uid mcp-exporter-overview). Queries are written against `s`, the
// selectors and label names from the mixin's config (lib/grafana.libsonnet).
local g = import '../lib/grafana.libsonnet';

function(config)
  local s = g.selectors(config, target='multi');
  g.dashboard(config, {
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: {
            type: 'grafana',
            uid: '-- Grafana --',
          },
          enable: true,
          hide: true,
          iconColor: 'rgba(0, 211, 255, 1)',
          name: 'Annotations & Alerts',
          type: 'dashboard',
        },
      ],
    },
    description: 'All MCP targets probed by mcp-exporter: status, durations, failures by reason and hop, servers, tools, certificates, and the exporter itself.',
    editable: true,
    fiscalYearStartMonth: 0,
    graphTooltip: 1,
    links: [
      {
        title: 'MCP exporter',
        type: 'dashboards',
        tags: ['mcp-exporter'],
        asDropdown: true,
        includeVars: true,
        keepTime: true,
        icon: 'external link',
        targetBlank: false,
        tooltip: '',
        url: '',
      },
    ],
    schemaVersion: 39,
    time: {
      from: 'now-6h',
      to: 'now',
    },
    timepicker: {},
    title: 'MCP exporter / Overview',
    uid: 'mcp-exporter-overview',
    version: 1,
    weekStart: '',
  }, variables=g.variables(config, s, ['job', 'target', 'instance']), panels=[
    {
      type: 'row',
      title: 'Targets',
      collapsed: false,
      gridPos: {
        h: 1,
        w: 24,
        x: 0,
        y: 0,
      },
      panels: [],
      id: 1,
    },
    {
      type: 'stat',
      title: 'Targets up',
      description: 'Targets whose last probe succeeded (probe_success 1): every configured step and expectation passed.',
      datasource: g.datasource,
      gridPos: {
        h: 4,
        w: 4,
        x: 0,
        y: 1,
      },
      fieldConfig: {
        defaults: {
          unit: 'short',
          thresholds: {
            mode: 'absolute',
            steps: [
              {
                color: 'green',
                value: null,
              },
            ],
          },
        },
        overrides: [],
      },
      options: {
        reduceOptions: {
          calcs: ['lastNotNull'],
          fields: '',
          values: false,
        },
        colorMode: 'value',
        graphMode: 'none',
        textMode: 'auto',
        justifyMode: 'auto',
        orientation: 'auto',
      },
      targets: [
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'sum(probe_success{%(probe)s})' % s,
          legendFormat: '__auto',
          range: false,
          instant: true,
          refId: 'A',
        },
      ],
      id: 2,
    },
    {
      type: 'stat',
      title: 'Targets down',
      description: 'Targets whose last probe failed (probe_success 0). The table \'Failing now\' says at which hop and phase, and why.',
      datasource: g.datasource,
      gridPos: {
        h: 4,
        w: 4,
        x: 4,
        y: 1,
      },
      fieldConfig: {
        defaults: {
          unit: 'short',
          thresholds: {
            mode: 'absolute',
            steps: [
              {
                color: 'green',
                value: null,
              },
              {
                color: 'red',
                value: 1,
              },
            ],
          },
        },
        overrides: [],
      },
      options: {
        reduceOptions: {
          calcs: ['lastNotNull'],
          fields: '',
          values: false,
        },
        colorMode: 'value',
        graphMode: 'none',
        textMode: 'auto',
        justifyMode: 'auto',
        orientation: 'auto',
      },
      targets: [
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'count(probe_success{%(probe)s} == 0) or vector(0)' % s,
          legendFormat: '__auto',
          range: false,
          instant: true,
          refId: 'A',
        },
      ],
      id: 3,
    },
    {
      type: 'stat',
      title: 'Success ratio',
      description: 'Share of successful probes over the selected time range, across the selected targets.',
      datasource: g.datasource,
      gridPos: {
        h: 4,
        w: 4,
        x: 8,
        y: 1,
      },
      fieldConfig: {
        defaults: {
          unit: 'percentunit',
          thresholds: {
            mode: 'absolute',
            steps: [
              {
                color: 'red',
                value: null,
              },
              {
                color: 'orange',
                value: 0.95,
              },
              {
                color: 'green',
                value: 0.99,
              },
            ],
          },
          min: 0,
          max: 1,
          decimals: 2,
        },
        overrides: [],
      },
      options: {
        reduceOptions: {
          calcs: ['lastNotNull'],
          fields: '',
          values: false,
        },
        colorMode: 'value',
        graphMode: 'none',
        textMode: 'auto',
        justifyMode: 'auto',
        orientation: 'auto',
      },
      targets: [
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'avg(avg_over_time(probe_success{%(probe)s}[$__range]))' % s,
          legendFormat: '__auto',
          range: false,
          instant: true,
          refId: 'A',
        },
      ],
      id: 4,
    },
    {
      type: 'stat',
      title: 'Slowest probe',
      description: 'Duration of the slowest last probe among the selected targets (probe_duration_seconds). Compare with the module timeout (probe_timeout_seconds).',
      datasource: g.datasource,
      gridPos: {
        h: 4,
        w: 4,
        x: 12,
        y: 1,
      },
      fieldConfig: {
        defaults: {
          unit: 's',
          thresholds: {
            mode: 'absolute',
            steps: [
              {
                color: 'green',
                value: null,
              },
              {
                color: 'orange',
                value: 2,
              },
              {
                color: 'red',
                value: 5,
              },
            ],
          },
        },
        overrides: [],
      },
      options: {
        reduceOptions: {
          calcs: ['lastNotNull'],
          fields: '',
          values: false,
        },
        colorMode: 'value',
        graphMode: 'area',
        textMode: 'auto',
        justifyMode: 'auto',
        orientation: 'auto',
      },
      targets: [
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'max(probe_duration_seconds{%(probe)s})' % s,
          legendFormat: '__auto',
          range: true,
          instant: false,
          refId: 'A',
        },
      ],
      id: 5,
    },
    {
      type: 'stat',
      title: 'Tool list changes',
      description: 'How many times any selected target\'s tool list (names, schemas, descriptions) changed in the selected range, from probe_mcp_tools_fingerprint.',
      datasource: g.datasource,
      gridPos: {
        h: 4,
        w: 4,
        x: 16,
        y: 1,
      },
      fieldConfig: {
        defaults: {
          unit: 'short',
          thresholds: {
            mode: 'absolute',
            steps: [
              {
                color: 'green',
                value: null,
              },
              {
                color: 'blue',
                value: 1,
              },
            ],
          },
        },
        overrides: [],
      },
      options: {
        reduceOptions: {
          calcs: ['lastNotNull'],
          fields: '',
          values: false,
        },
        colorMode: 'value',
        graphMode: 'none',
        textMode: 'auto',
        justifyMode: 'auto',
        orientation: 'auto',
      },
      targets: [
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'sum(changes(probe_mcp_tools_fingerprint{%(probe)s}[$__range])) or vector(0)' % s,
          legendFormat: '__auto',
          range: false,
          instant: true,
          refId: 'A',
        },
      ],
      id: 6,
    },
    {
      type: 'stat',
      title: 'Earliest certificate expiry',
      description: 'Time until the first TLS certificate among the selected https targets expires (probe_ssl_earliest_cert_expiry). Plain http targets have none.',
      datasource: g.datasource,
      gridPos: {
        h: 4,
        w: 4,
        x: 20,
        y: 1,
      },
      fieldConfig: {
        defaults: {
          unit: 's',
          thresholds: {
            mode: 'absolute',
            steps: [
              {
                color: 'red',
                value: null,
              },
              {
                color: 'orange',
                value: 259200,
              },
              {
                color: 'green',
                value: 1209600,
              },
            ],
          },
        },
        overrides: [],
      },
      options: {
        reduceOptions: {
          calcs: ['lastNotNull'],
          fields: '',
          values: false,
        },
        colorMode: 'value',
        graphMode: 'none',
        textMode: 'auto',
        justifyMode: 'auto',
        orientation: 'auto',
      },
      targets: [
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'min(probe_ssl_earliest_cert_expiry{%(probe)s} - time())' % s,
          legendFormat: '__auto',
          range: false,
          instant: true,
          refId: 'A',
        },
      ],
      id: 7,
    },
    {
      type: 'state-timeline',
      title: 'Status map',
      description: 'Each target\'s probe result over time: UP when every step passed, DOWN otherwise. Click a row to open the target\'s board.',
      datasource: g.datasource,
      gridPos: {
        h: 8,
        w: 24,
        x: 0,
        y: 5,
      },
      fieldConfig: {
        defaults: {
          unit: 'none',
          mappings: [
            {
              type: 'value',
              options: {
                '0': {
                  text: 'DOWN',
                  color: 'red',
                  index: 0,
                },
                '1': {
                  text: 'UP',
                  color: 'green',
                  index: 1,
                },
              },
            },
          ],
          thresholds: {
            mode: 'absolute',
            steps: [
              {
                color: 'red',
                value: null,
              },
              {
                color: 'green',
                value: 1,
              },
            ],
          },
          custom: {
            lineWidth: 0,
            fillOpacity: 80,
          },
          links: [
            {
              title: 'Open this target',
              url: '/d/mcp-exporter-target?var-datasource=${datasource}%(clusterVar)s&var-job=${__field.labels.job}&var-target=${__field.labels.%(target)s:percentencode}&${__url_time_range}' % s,
            },
          ],
        },
        overrides: [],
      },
      options: {
        showValue: 'auto',
        mergeValues: true,
        alignValue: 'left',
        rowHeight: 0.9,
        legend: {
          displayMode: 'list',
          placement: 'bottom',
          showLegend: false,
        },
        tooltip: {
          mode: 'single',
          sort: 'none',
        },
      },
      targets: [
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'probe_success{%(probe)s}' % s,
          legendFormat: '{{%(target)s}} ({{job}})' % s,
          range: true,
          instant: false,
          refId: 'A',
        },
      ],
      id: 8,
    },
    {
      type: 'timeseries',
      title: 'Success ratio by target',
      description: 'Share of successful probes per target, averaged over the rate interval.',
      datasource: g.datasource,
      gridPos: {
        h: 8,
        w: 12,
        x: 0,
        y: 13,
      },
      fieldConfig: {
        defaults: {
          unit: 'percentunit',
          thresholds: {
            mode: 'absolute',
            steps: [
              {
                color: 'green',
                value: null,
              },
            ],
          },
          custom: {
            drawStyle: 'line',
            lineWidth: 1,
            fillOpacity: 10,
            showPoints: 'never',
            spanNulls: false,
          },
          links: [
            {
              title: 'Open this target',
              url: '/d/mcp-exporter-target?var-datasource=${datasource}%(clusterVar)s&var-job=${__field.labels.job}&var-target=${__field.labels.%(target)s:percentencode}&${__url_time_range}' % s,
            },
          ],
          min: 0,
          max: 1,
        },
        overrides: [],
      },
      options: {
        legend: {
          displayMode: 'list',
          placement: 'bottom',
          showLegend: true,
        },
        tooltip: {
          mode: 'multi',
          sort: 'desc',
        },
      },
      targets: [
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'avg_over_time(probe_success{%(probe)s}[$__rate_interval])' % s,
          legendFormat: '{{%(target)s}}' % s,
          range: true,
          instant: false,
          refId: 'A',
        },
      ],
      id: 9,
    },
    {
      type: 'timeseries',
      title: 'Probe duration',
      description: 'Wall time of each probe (probe_duration_seconds), from the first DNS lookup to the session\'s DELETE.',
      datasource: g.datasource,
      gridPos: {
        h: 8,
        w: 12,
        x: 12,
        y: 13,
      },
      fieldConfig: {
        defaults: {
          unit: 's',
          thresholds: {
            mode: 'absolute',
            steps: [
              {
                color: 'green',
                value: null,
              },
            ],
          },
          custom: {
            drawStyle: 'line',
            lineWidth: 1,
            fillOpacity: 10,
            showPoints: 'never',
            spanNulls: false,
          },
          links: [
            {
              title: 'Open this target',
              url: '/d/mcp-exporter-target?var-datasource=${datasource}%(clusterVar)s&var-job=${__field.labels.job}&var-target=${__field.labels.%(target)s:percentencode}&${__url_time_range}' % s,
            },
          ],
        },
        overrides: [],
      },
      options: {
        legend: {
          displayMode: 'list',
          placement: 'bottom',
          showLegend: true,
        },
        tooltip: {
          mode: 'multi',
          sort: 'desc',
        },
      },
      targets: [
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'probe_duration_seconds{%(probe)s}' % s,
          legendFormat: '{{%(target)s}}' % s,
          range: true,
          instant: false,
          refId: 'A',
        },
      ],
      id: 10,
    },
    {
      type: 'row',
      title: 'Phases and failures',
      collapsed: false,
      gridPos: {
        h: 1,
        w: 24,
        x: 0,
        y: 21,
      },
      panels: [],
      id: 11,
    },
    {
      type: 'bargauge',
      title: 'Slowest phases',
      description: 'The ten slowest phases (dns, connect, tls, initialize, tools_list, ...) averaged over the selected range, per target.',
      datasource: g.datasource,
      gridPos: {
        h: 9,
        w: 8,
        x: 0,
        y: 22,
      },
      fieldConfig: {
        defaults: {
          unit: 's',
          thresholds: {
            mode: 'absolute',
            steps: [
              {
                color: 'green',
                value: null,
              },
              {
                color: 'orange',
                value: 1,
              },
              {
                color: 'red',
                value: 2,
              },
            ],
          },
          links: [
            {
              title: 'Open this target',
              url: '/d/mcp-exporter-target?var-datasource=${datasource}%(clusterVar)s&var-job=${__field.labels.job}&var-target=${__field.labels.%(target)s:percentencode}&${__url_time_range}' % s,
            },
          ],
        },
        overrides: [],
      },
      options: {
        displayMode: 'gradient',
        orientation: 'horizontal',
        reduceOptions: {
          calcs: ['lastNotNull'],
          fields: '',
          values: false,
        },
        showUnfilled: true,
        valueMode: 'color',
      },
      targets: [
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'topk(10, avg_over_time(probe_mcp_phase_duration_seconds{%(probe)s}[$__range]))' % s,
          legendFormat: '{{%(target)s}} {{phase}}' % s,
          range: false,
          instant: true,
          refId: 'A',
        },
      ],
      id: 12,
    },
    {
      type: 'timeseries',
      title: 'Failing targets by reason',
      description: 'Number of failing targets per failure reason (probe_failure_info). connect_refused, dns, timeout: reachability; auth_required, forbidden, token_rejected: credentials; not_mcp, jsonrpc_error: the server\'s protocol.',
      datasource: g.datasource,
      gridPos: {
        h: 9,
        w: 8,
        x: 8,
        y: 22,
      },
      fieldConfig: {
        defaults: {
          unit: 'short',
          thresholds: {
            mode: 'absolute',
            steps: [
              {
                color: 'green',
                value: null,
              },
            ],
          },
          custom: {
            drawStyle: 'bars',
            lineWidth: 1,
            fillOpacity: 60,
            showPoints: 'never',
            stacking: {
              mode: 'normal',
              group: 'A',
            },
          },
        },
        overrides: [],
      },
      options: {
        legend: {
          displayMode: 'list',
          placement: 'bottom',
          showLegend: true,
        },
        tooltip: {
          mode: 'multi',
          sort: 'desc',
        },
      },
      targets: [
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'sum by (reason) (probe_failure_info{%(probe)s})' % s,
          legendFormat: '{{reason}}',
          range: true,
          instant: false,
          refId: 'A',
        },
      ],
      id: 13,
    },
    {
      type: 'timeseries',
      title: 'Failing targets by hop',
      description: 'Number of failing targets per hop: client_to_upstream (a server probed directly), client_to_gateway, gateway_to_upstream, client_to_auth_server, exporter.',
      datasource: g.datasource,
      gridPos: {
        h: 9,
        w: 8,
        x: 16,
        y: 22,
      },
      fieldConfig: {
        defaults: {
          unit: 'short',
          thresholds: {
            mode: 'absolute',
            steps: [
              {
                color: 'green',
                value: null,
              },
            ],
          },
          custom: {
            drawStyle: 'bars',
            lineWidth: 1,
            fillOpacity: 60,
            showPoints: 'never',
            stacking: {
              mode: 'normal',
              group: 'A',
            },
          },
        },
        overrides: [],
      },
      options: {
        legend: {
          displayMode: 'list',
          placement: 'bottom',
          showLegend: true,
        },
        tooltip: {
          mode: 'multi',
          sort: 'desc',
        },
      },
      targets: [
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'sum by (hop) (probe_failure_info{%(probe)s})' % s,
          legendFormat: '{{hop}}',
          range: true,
          instant: false,
          refId: 'A',
        },
      ],
      id: 14,
    },
    {
      type: 'table',
      title: 'Failing now',
      description: 'Every target whose last probe failed, with the hop, phase and reason of the failure. Run `mcp-exporter probe <target>` for what to check next.',
      datasource: g.datasource,
      gridPos: {
        h: 6,
        w: 24,
        x: 0,
        y: 31,
      },
      fieldConfig: {
        defaults: {
          unit: 'none',
          thresholds: {
            mode: 'absolute',
            steps: [
              {
                color: 'green',
                value: null,
              },
            ],
          },
          links: [
            {
              title: 'Open this target',
              url: '/d/mcp-exporter-target?var-datasource=${datasource}%(clusterVar)s&var-job=${__field.labels.job}&var-target=${__field.labels.%(target)s:percentencode}&${__url_time_range}' % s,
            },
          ],
        },
        overrides: [],
      },
      options: {
        showHeader: true,
        cellHeight: 'sm',
        footer: {
          show: false,
          reducer: ['sum'],
        },
      },
      targets: [
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'probe_failure_info{%(probe)s} == 1' % s,
          legendFormat: '__auto',
          range: false,
          instant: true,
          refId: 'A',
          format: 'table',
        },
      ],
      transformations: [
        {
          id: 'organize',
          options: {
            excludeByName: {
              Time: true,
              Value: true,
              __name__: true,
            },
            renameByName: {
              [s.target]: 'target',
            },
            indexByName: {
              [s.target]: 0,
              job: 1,
              [s.module]: 2,
              hop: 3,
              phase: 4,
              reason: 5,
            },
          },
        },
      ],
      id: 15,
    },
    {
      type: 'row',
      title: 'Servers',
      collapsed: false,
      gridPos: {
        h: 1,
        w: 24,
        x: 0,
        y: 37,
      },
      panels: [],
      id: 16,
    },
    {
      type: 'piechart',
      title: 'Protocol versions',
      description: 'MCP protocol revisions negotiated by the selected targets (probe_mcp_server_info).',
      datasource: g.datasource,
      gridPos: {
        h: 8,
        w: 6,
        x: 0,
        y: 38,
      },
      fieldConfig: {
        defaults: {
          unit: 'short',
          thresholds: {
            mode: 'absolute',
            steps: [
              {
                color: 'green',
                value: null,
              },
            ],
          },
        },
        overrides: [],
      },
      options: {
        pieType: 'donut',
        displayLabels: ['name', 'value'],
        legend: {
          displayMode: 'list',
          placement: 'bottom',
          showLegend: true,
        },
        reduceOptions: {
          calcs: ['lastNotNull'],
          fields: '',
          values: false,
        },
        tooltip: {
          mode: 'single',
          sort: 'none',
        },
      },
      targets: [
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'count by (protocol_version) (probe_mcp_server_info{%(probe)s})' % s,
          legendFormat: '{{protocol_version}}',
          range: false,
          instant: true,
          refId: 'A',
        },
      ],
      id: 17,
    },
    {
      type: 'table',
      title: 'Servers',
      description: 'What each target says it is in its initialize answer: server name and version, negotiated protocol revision, and the transport the exporter used.',
      datasource: g.datasource,
      gridPos: {
        h: 8,
        w: 10,
        x: 6,
        y: 38,
      },
      fieldConfig: {
        defaults: {
          unit: 'none',
          thresholds: {
            mode: 'absolute',
            steps: [
              {
                color: 'green',
                value: null,
              },
            ],
          },
          links: [
            {
              title: 'Open this target',
              url: '/d/mcp-exporter-target?var-datasource=${datasource}%(clusterVar)s&var-job=${__field.labels.job}&var-target=${__field.labels.%(target)s:percentencode}&${__url_time_range}' % s,
            },
          ],
        },
        overrides: [],
      },
      options: {
        showHeader: true,
        cellHeight: 'sm',
        footer: {
          show: false,
          reducer: ['sum'],
        },
      },
      targets: [
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'probe_mcp_server_info{%(probe)s}' % s,
          legendFormat: '__auto',
          range: false,
          instant: true,
          refId: 'A',
          format: 'table',
        },
      ],
      transformations: [
        {
          id: 'organize',
          options: {
            excludeByName: {
              Time: true,
              Value: true,
              __name__: true,
            },
            renameByName: {
              [s.target]: 'target',
            },
            indexByName: {
              [s.target]: 0,
              job: 1,
              server_name: 2,
              server_version: 3,
              protocol_version: 4,
              transport: 5,
            },
          },
        },
      ],
      id: 18,
    },
    {
      type: 'timeseries',
      title: 'Tools per target',
      description: 'Number of tools each target lists in tools/list (probe_mcp_tools).',
      datasource: g.datasource,
      gridPos: {
        h: 8,
        w: 8,
        x: 16,
        y: 38,
      },
      fieldConfig: {
        defaults: {
          unit: 'short',
          thresholds: {
            mode: 'absolute',
            steps: [
              {
                color: 'green',
                value: null,
              },
            ],
          },
          custom: {
            drawStyle: 'line',
            lineWidth: 1,
            fillOpacity: 10,
            showPoints: 'never',
            spanNulls: false,
            lineInterpolation: 'stepAfter',
          },
          min: 0,
          decimals: 0,
        },
        overrides: [],
      },
      options: {
        legend: {
          displayMode: 'list',
          placement: 'bottom',
          showLegend: true,
        },
        tooltip: {
          mode: 'multi',
          sort: 'desc',
        },
      },
      targets: [
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'probe_mcp_tools{%(probe)s}' % s,
          legendFormat: '{{%(target)s}}' % s,
          range: true,
          instant: false,
          refId: 'A',
        },
      ],
      id: 19,
    },
    {
      type: 'bargauge',
      title: 'Tool list changes by target',
      description: 'How many times each target\'s tool list changed in the selected range (changes of probe_mcp_tools_fingerprint). Unexpected changes deserve a look.',
      datasource: g.datasource,
      gridPos: {
        h: 7,
        w: 12,
        x: 0,
        y: 46,
      },
      fieldConfig: {
        defaults: {
          unit: 'short',
          thresholds: {
            mode: 'absolute',
            steps: [
              {
                color: 'green',
                value: null,
              },
              {
                color: 'blue',
                value: 1,
              },
            ],
          },
          links: [
            {
              title: 'Open this target',
              url: '/d/mcp-exporter-target?var-datasource=${datasource}%(clusterVar)s&var-job=${__field.labels.job}&var-target=${__field.labels.%(target)s:percentencode}&${__url_time_range}' % s,
            },
          ],
          min: 0,
          decimals: 0,
        },
        overrides: [],
      },
      options: {
        displayMode: 'gradient',
        orientation: 'horizontal',
        reduceOptions: {
          calcs: ['lastNotNull'],
          fields: '',
          values: false,
        },
        showUnfilled: true,
        valueMode: 'color',
      },
      targets: [
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'changes(probe_mcp_tools_fingerprint{%(probe)s}[$__range])' % s,
          legendFormat: '{{%(target)s}}' % s,
          range: false,
          instant: true,
          refId: 'A',
        },
      ],
      id: 20,
    },
    {
      type: 'bargauge',
      title: 'Certificate expiry by target',
      description: 'Time left until the earliest-expiring certificate of each https target expires.',
      datasource: g.datasource,
      gridPos: {
        h: 7,
        w: 12,
        x: 12,
        y: 46,
      },
      fieldConfig: {
        defaults: {
          unit: 's',
          thresholds: {
            mode: 'absolute',
            steps: [
              {
                color: 'red',
                value: null,
              },
              {
                color: 'orange',
                value: 259200,
              },
              {
                color: 'green',
                value: 1209600,
              },
            ],
          },
        },
        overrides: [],
      },
      options: {
        displayMode: 'gradient',
        orientation: 'horizontal',
        reduceOptions: {
          calcs: ['lastNotNull'],
          fields: '',
          values: false,
        },
        showUnfilled: true,
        valueMode: 'color',
      },
      targets: [
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'probe_ssl_earliest_cert_expiry{%(probe)s} - time()' % s,
          legendFormat: '{{%(target)s}}' % s,
          range: false,
          instant: true,
          refId: 'A',
        },
      ],
      id: 21,
    },
    {
      type: 'row',
      title: 'Exporter',
      collapsed: false,
      gridPos: {
        h: 1,
        w: 24,
        x: 0,
        y: 53,
      },
      panels: [],
      id: 22,
    },
    {
      type: 'stat',
      title: 'Config reload',
      description: 'Whether the exporter\'s last configuration reload succeeded. After a failed reload the exporter keeps the previous configuration; `mcp-exporter --config.check` gives the reason.',
      datasource: g.datasource,
      gridPos: {
        h: 4,
        w: 4,
        x: 0,
        y: 54,
      },
      fieldConfig: {
        defaults: {
          unit: 'none',
          mappings: [
            {
              type: 'value',
              options: {
                '0': {
                  text: 'FAIL',
                  color: 'red',
                  index: 0,
                },
                '1': {
                  text: 'OK',
                  color: 'green',
                  index: 1,
                },
              },
            },
          ],
          thresholds: {
            mode: 'absolute',
            steps: [
              {
                color: 'red',
                value: null,
              },
              {
                color: 'green',
                value: 1,
              },
            ],
          },
        },
        overrides: [],
      },
      options: {
        reduceOptions: {
          calcs: ['lastNotNull'],
          fields: '',
          values: false,
        },
        colorMode: 'value',
        graphMode: 'none',
        textMode: 'auto',
        justifyMode: 'auto',
        orientation: 'auto',
      },
      targets: [
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'mcp_exporter_config_last_reload_successful{%(exporter)s}' % s,
          legendFormat: '{{instance}}',
          range: true,
          instant: false,
          refId: 'A',
        },
      ],
      id: 23,
    },
    {
      type: 'stat',
      title: 'Last successful reload',
      description: 'When each exporter last loaded its configuration successfully.',
      datasource: g.datasource,
      gridPos: {
        h: 4,
        w: 4,
        x: 4,
        y: 54,
      },
      fieldConfig: {
        defaults: {
          unit: 'dateTimeFromNow',
          thresholds: {
            mode: 'absolute',
            steps: [
              {
                color: 'green',
                value: null,
              },
            ],
          },
        },
        overrides: [],
      },
      options: {
        reduceOptions: {
          calcs: ['lastNotNull'],
          fields: '',
          values: false,
        },
        colorMode: 'value',
        graphMode: 'none',
        textMode: 'auto',
        justifyMode: 'auto',
        orientation: 'auto',
      },
      targets: [
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'mcp_exporter_config_last_reload_success_timestamp_seconds{%(exporter)s} * 1000' % s,
          legendFormat: '{{instance}}',
          range: true,
          instant: false,
          refId: 'A',
        },
      ],
      id: 24,
    },
    {
      type: 'stat',
      title: 'Probes in flight',
      description: 'Probes running right now, across the selected exporters.',
      datasource: g.datasource,
      gridPos: {
        h: 4,
        w: 4,
        x: 8,
        y: 54,
      },
      fieldConfig: {
        defaults: {
          unit: 'short',
          thresholds: {
            mode: 'absolute',
            steps: [
              {
                color: 'green',
                value: null,
              },
            ],
          },
        },
        overrides: [],
      },
      options: {
        reduceOptions: {
          calcs: ['lastNotNull'],
          fields: '',
          values: false,
        },
        colorMode: 'value',
        graphMode: 'area',
        textMode: 'auto',
        justifyMode: 'auto',
        orientation: 'auto',
      },
      targets: [
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'sum(mcp_exporter_probes_in_flight{%(exporter)s})' % s,
          legendFormat: '__auto',
          range: true,
          instant: false,
          refId: 'A',
        },
      ],
      id: 25,
    },
    {
      type: 'stat',
      title: 'Exporter version',
      description: 'Version of each selected exporter (mcp_exporter_build_info).',
      datasource: g.datasource,
      gridPos: {
        h: 4,
        w: 12,
        x: 12,
        y: 54,
      },
      fieldConfig: {
        defaults: {
          unit: 'none',
          thresholds: {
            mode: 'absolute',
            steps: [
              {
                color: 'green',
                value: null,
              },
            ],
          },
        },
        overrides: [],
      },
      options: {
        reduceOptions: {
          calcs: ['lastNotNull'],
          fields: '',
          values: false,
        },
        colorMode: 'none',
        graphMode: 'none',
        textMode: 'name',
        justifyMode: 'auto',
        orientation: 'auto',
      },
      targets: [
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'mcp_exporter_build_info{%(exporter)s}' % s,
          legendFormat: '{{instance}}: {{version}}',
          range: false,
          instant: true,
          refId: 'A',
        },
      ],
      id: 26,
    },
    {
      type: 'timeseries',
      title: 'Probes by module and result',
      description: 'Probes per second the exporter ran, by module and result (mcp_exporter_probes_total).',
      datasource: g.datasource,
      gridPos: {
        h: 8,
        w: 8,
        x: 0,
        y: 58,
      },
      fieldConfig: {
        defaults: {
          unit: 'ops',
          thresholds: {
            mode: 'absolute',
            steps: [
              {
                color: 'green',
                value: null,
              },
            ],
          },
          custom: {
            drawStyle: 'line',
            lineWidth: 1,
            fillOpacity: 40,
            showPoints: 'never',
            spanNulls: false,
            stacking: {
              mode: 'normal',
              group: 'A',
            },
          },
        },
        overrides: [],
      },
      options: {
        legend: {
          displayMode: 'list',
          placement: 'bottom',
          showLegend: true,
        },
        tooltip: {
          mode: 'multi',
          sort: 'desc',
        },
      },
      targets: [
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'sum by (module, result) (rate(mcp_exporter_probes_total{%(exporter)s}[$__rate_interval]))' % s,
          legendFormat: '{{module}} {{result}}',
          range: true,
          instant: false,
          refId: 'A',
        },
      ],
      id: 27,
    },
    {
      type: 'timeseries',
      title: 'Probe duration quantiles by module',
      description: '50th and 90th percentile of probe duration per module, from the exporter\'s mcp_exporter_probe_duration_seconds histogram.',
      datasource: g.datasource,
      gridPos: {
        h: 8,
        w: 8,
        x: 8,
        y: 58,
      },
      fieldConfig: {
        defaults: {
          unit: 's',
          thresholds: {
            mode: 'absolute',
            steps: [
              {
                color: 'green',
                value: null,
              },
            ],
          },
          custom: {
            drawStyle: 'line',
            lineWidth: 1,
            fillOpacity: 10,
            showPoints: 'never',
            spanNulls: false,
          },
        },
        overrides: [],
      },
      options: {
        legend: {
          displayMode: 'list',
          placement: 'bottom',
          showLegend: true,
        },
        tooltip: {
          mode: 'multi',
          sort: 'desc',
        },
      },
      targets: [
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'histogram_quantile(0.5, sum by (le, module) (rate(mcp_exporter_probe_duration_seconds_bucket{%(exporter)s}[$__rate_interval])))' % s,
          legendFormat: 'p50 {{module}}',
          range: true,
          instant: false,
          refId: 'A',
        },
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'histogram_quantile(0.9, sum by (le, module) (rate(mcp_exporter_probe_duration_seconds_bucket{%(exporter)s}[$__rate_interval])))' % s,
          legendFormat: 'p90 {{module}}',
          range: true,
          instant: false,
          refId: 'B',
        },
      ],
      id: 28,
    },
    {
      type: 'timeseries',
      title: 'Unknown module and rejected requests',
      description: 'Probe requests per second that named a module the exporter does not have (answered with 400; check the module parameter of your scrape jobs against /config), and those turned away with 503 because --probes.max-concurrent probes were already running (raise the limit or spread the scrapes).',
      datasource: g.datasource,
      gridPos: {
        h: 8,
        w: 8,
        x: 16,
        y: 58,
      },
      fieldConfig: {
        defaults: {
          unit: 'reqps',
          thresholds: {
            mode: 'absolute',
            steps: [
              {
                color: 'green',
                value: null,
              },
              {
                color: 'red',
                value: 0.001,
              },
            ],
          },
          custom: {
            drawStyle: 'line',
            lineWidth: 1,
            fillOpacity: 10,
            showPoints: 'never',
            spanNulls: false,
          },
        },
        overrides: [],
      },
      options: {
        legend: {
          displayMode: 'list',
          placement: 'bottom',
          showLegend: true,
        },
        tooltip: {
          mode: 'multi',
          sort: 'desc',
        },
      },
      targets: [
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'sum(rate(mcp_exporter_module_unknown_total{%(exporter)s}[$__rate_interval]))' % s,
          legendFormat: 'unknown module',
          range: true,
          instant: false,
          refId: 'A',
        },
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'sum(rate(mcp_exporter_probes_rejected_total{%(exporter)s}[$__rate_interval]))' % s,
          legendFormat: 'rejected (concurrency limit)',
          range: true,
          instant: false,
          refId: 'B',
        },
      ],
      id: 29,
    },
  ])
