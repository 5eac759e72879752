// The MCP exporter / Target board (uid mcp-exporter-target). Queries are written against `s`, the
// selectors and label names from the mixin's config (lib/grafana.libsonnet).
local g = import '../lib/grafana.libsonnet';

function(config)
  local s = g.selectors(config, target='single');
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
    description: 'One MCP target in depth: every phase over time, steps and hops, what the server says it is, and the failure log by reason.',
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
    title: 'MCP exporter / Target',
    uid: 'mcp-exporter-target',
    version: 1,
    weekStart: '',
  }, variables=g.variables(config, s, ['job', 'target']), panels=[
    {
      type: 'row',
      title: 'Status',
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
      title: 'Status',
      description: 'Result of the last probe: UP when every configured step and expectation passed.',
      datasource: g.datasource,
      gridPos: {
        h: 4,
        w: 4,
        x: 0,
        y: 1,
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
        },
        overrides: [],
      },
      options: {
        reduceOptions: {
          calcs: ['lastNotNull'],
          fields: '',
          values: false,
        },
        colorMode: 'background',
        graphMode: 'none',
        textMode: 'auto',
        justifyMode: 'auto',
        orientation: 'auto',
      },
      targets: [
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'probe_success{%(probe)s}' % s,
          legendFormat: '{{job}}',
          range: true,
          instant: false,
          refId: 'A',
        },
      ],
      id: 2,
    },
    {
      type: 'stat',
      title: 'Success ratio',
      description: 'Share of successful probes over the selected time range.',
      datasource: g.datasource,
      gridPos: {
        h: 4,
        w: 4,
        x: 4,
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
          expr: 'avg_over_time(probe_success{%(probe)s}[$__range])' % s,
          legendFormat: '{{job}}',
          range: false,
          instant: true,
          refId: 'A',
        },
      ],
      id: 3,
    },
    {
      type: 'stat',
      title: 'Probe duration',
      description: 'Duration of the last probe (probe_duration_seconds).',
      datasource: g.datasource,
      gridPos: {
        h: 4,
        w: 4,
        x: 8,
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
          expr: 'probe_duration_seconds{%(probe)s}' % s,
          legendFormat: '{{job}}',
          range: true,
          instant: false,
          refId: 'A',
        },
      ],
      id: 4,
    },
    {
      type: 'stat',
      title: 'Timeout',
      description: 'Effective timeout of the probe: the scrape timeout minus the offset, capped by the module\'s timeout (probe_timeout_seconds).',
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
          expr: 'probe_timeout_seconds{%(probe)s}' % s,
          legendFormat: '{{job}}',
          range: true,
          instant: false,
          refId: 'A',
        },
      ],
      id: 5,
    },
    {
      type: 'stat',
      title: 'HTTP status',
      description: 'Last HTTP status code the target answered with (probe_http_status_code).',
      datasource: g.datasource,
      gridPos: {
        h: 4,
        w: 4,
        x: 16,
        y: 1,
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
              {
                color: 'orange',
                value: 300,
              },
              {
                color: 'red',
                value: 400,
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
          expr: 'probe_http_status_code{%(probe)s}' % s,
          legendFormat: '{{job}}',
          range: true,
          instant: false,
          refId: 'A',
        },
      ],
      id: 6,
    },
    {
      type: 'stat',
      title: 'JSON-RPC error code',
      description: 'Last JSON-RPC error code in the target\'s answers, 0 when there was none (probe_mcp_jsonrpc_error_code).',
      datasource: g.datasource,
      gridPos: {
        h: 4,
        w: 4,
        x: 20,
        y: 1,
      },
      fieldConfig: {
        defaults: {
          unit: 'none',
          thresholds: {
            mode: 'absolute',
            steps: [
              {
                color: 'red',
                value: null,
              },
              {
                color: 'green',
                value: 0,
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
          expr: 'probe_mcp_jsonrpc_error_code{%(probe)s}' % s,
          legendFormat: '{{job}}',
          range: true,
          instant: false,
          refId: 'A',
        },
      ],
      id: 7,
    },
    {
      type: 'state-timeline',
      title: 'Probe, steps and hops',
      description: 'The probe\'s result, each configured step (probe_mcp_step_success) and each hop it exercised (probe_hop_success) over time.',
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
          custom: {
            lineWidth: 0,
            fillOpacity: 80,
          },
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
          legendFormat: 'probe ({{job}})',
          range: true,
          instant: false,
          refId: 'A',
        },
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'probe_mcp_step_success{%(probe)s}' % s,
          legendFormat: 'step {{step}}',
          range: true,
          instant: false,
          refId: 'B',
        },
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'probe_hop_success{%(probe)s}' % s,
          legendFormat: 'hop {{hop}}',
          range: true,
          instant: false,
          refId: 'C',
        },
      ],
      id: 8,
    },
    {
      type: 'row',
      title: 'Phases',
      collapsed: false,
      gridPos: {
        h: 1,
        w: 24,
        x: 0,
        y: 13,
      },
      panels: [],
      id: 9,
    },
    {
      type: 'timeseries',
      title: 'Phase durations',
      description: 'Time spent in each phase of the probe (dns, connect, tls, initialize, initialized, tools_list, ..., session_delete), stacked: the top line is close to the probe\'s duration.',
      datasource: g.datasource,
      gridPos: {
        h: 9,
        w: 16,
        x: 0,
        y: 14,
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
          expr: 'probe_mcp_phase_duration_seconds{%(probe)s}' % s,
          legendFormat: '{{phase}}',
          range: true,
          instant: false,
          refId: 'A',
        },
      ],
      id: 10,
    },
    {
      type: 'bargauge',
      title: 'Phase durations, range average',
      description: 'Each phase\'s duration averaged over the selected range.',
      datasource: g.datasource,
      gridPos: {
        h: 9,
        w: 8,
        x: 16,
        y: 14,
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
          expr: 'avg_over_time(probe_mcp_phase_duration_seconds{%(probe)s}[$__range])' % s,
          legendFormat: '{{phase}}',
          range: false,
          instant: true,
          refId: 'A',
        },
      ],
      id: 11,
    },
    {
      type: 'timeseries',
      title: 'Probe duration and timeout',
      description: 'The probe\'s duration against its effective timeout: a probe close to its timeout is about to fail with reason timeout.',
      datasource: g.datasource,
      gridPos: {
        h: 8,
        w: 12,
        x: 0,
        y: 23,
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
          expr: 'probe_duration_seconds{%(probe)s}' % s,
          legendFormat: 'duration ({{job}})',
          range: true,
          instant: false,
          refId: 'A',
        },
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'probe_timeout_seconds{%(probe)s}' % s,
          legendFormat: 'timeout ({{job}})',
          range: true,
          instant: false,
          refId: 'B',
        },
      ],
      id: 12,
    },
    {
      type: 'bargauge',
      title: 'Step success ratio',
      description: 'Share of probes in the selected range in which each configured step passed.',
      datasource: g.datasource,
      gridPos: {
        h: 8,
        w: 12,
        x: 12,
        y: 23,
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
          expr: 'avg_over_time(probe_mcp_step_success{%(probe)s}[$__range])' % s,
          legendFormat: '{{step}}',
          range: false,
          instant: true,
          refId: 'A',
        },
      ],
      id: 13,
    },
    {
      type: 'row',
      title: 'Server',
      collapsed: false,
      gridPos: {
        h: 1,
        w: 24,
        x: 0,
        y: 31,
      },
      panels: [],
      id: 14,
    },
    {
      type: 'table',
      title: 'Server info',
      description: 'The server\'s name and version from its initialize answer, the negotiated protocol revision and the transport used (probe_mcp_server_info).',
      datasource: g.datasource,
      gridPos: {
        h: 5,
        w: 12,
        x: 0,
        y: 32,
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
              [s.target]: true,
            },
            renameByName: {},
            indexByName: {
              job: 0,
              server_name: 1,
              server_version: 2,
              protocol_version: 3,
              transport: 4,
            },
          },
        },
      ],
      id: 15,
    },
    {
      type: 'stat',
      title: 'Capabilities',
      description: 'Capabilities the server declared in its initialize answer (probe_mcp_capability).',
      datasource: g.datasource,
      gridPos: {
        h: 5,
        w: 12,
        x: 12,
        y: 32,
      },
      fieldConfig: {
        defaults: {
          unit: 'none',
          mappings: [
            {
              type: 'value',
              options: {
                '0': {
                  text: 'no',
                  color: 'orange',
                  index: 0,
                },
                '1': {
                  text: 'yes',
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
                color: 'orange',
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
        colorMode: 'background',
        graphMode: 'none',
        textMode: 'auto',
        justifyMode: 'auto',
        orientation: 'auto',
      },
      targets: [
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'probe_mcp_capability{%(probe)s}' % s,
          legendFormat: '{{capability}}',
          range: false,
          instant: true,
          refId: 'A',
        },
      ],
      id: 16,
    },
    {
      type: 'timeseries',
      title: 'Tools',
      description: 'Number of tools the server lists in tools/list (probe_mcp_tools).',
      datasource: g.datasource,
      gridPos: {
        h: 8,
        w: 8,
        x: 0,
        y: 37,
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
          legendFormat: 'tools ({{job}})',
          range: true,
          instant: false,
          refId: 'A',
        },
      ],
      id: 17,
    },
    {
      type: 'timeseries',
      title: 'Resources and prompts',
      description: 'Number of resources and prompts the server lists, for modules with the resources_list and prompts_list steps (probe_mcp_resources, probe_mcp_prompts).',
      datasource: g.datasource,
      gridPos: {
        h: 8,
        w: 8,
        x: 8,
        y: 37,
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
          expr: 'probe_mcp_resources{%(probe)s}' % s,
          legendFormat: 'resources ({{job}})',
          range: true,
          instant: false,
          refId: 'A',
        },
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'probe_mcp_prompts{%(probe)s}' % s,
          legendFormat: 'prompts ({{job}})',
          range: true,
          instant: false,
          refId: 'B',
        },
      ],
      id: 18,
    },
    {
      type: 'timeseries',
      title: 'Tool list changes',
      description: 'Changes of the tool list fingerprint (probe_mcp_tools_fingerprint): a bar each time the tools\' names, schemas or descriptions changed.',
      datasource: g.datasource,
      gridPos: {
        h: 8,
        w: 8,
        x: 16,
        y: 37,
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
          expr: 'changes(probe_mcp_tools_fingerprint{%(probe)s}[$__rate_interval])' % s,
          legendFormat: 'changes',
          range: true,
          instant: false,
          refId: 'A',
        },
      ],
      id: 19,
    },
    {
      type: 'row',
      title: 'Failures',
      collapsed: false,
      gridPos: {
        h: 1,
        w: 24,
        x: 0,
        y: 45,
      },
      panels: [],
      id: 20,
    },
    {
      type: 'state-timeline',
      title: 'Failures over time',
      description: 'When the probe failed, at which hop and phase, and why (probe_failure_info). `mcp-exporter probe <target>` gives the steps to check for each reason.',
      datasource: g.datasource,
      gridPos: {
        h: 6,
        w: 24,
        x: 0,
        y: 46,
      },
      fieldConfig: {
        defaults: {
          unit: 'none',
          mappings: [
            {
              type: 'value',
              options: {
                '1': {
                  text: 'failing',
                  color: 'red',
                  index: 0,
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
            ],
          },
          custom: {
            lineWidth: 0,
            fillOpacity: 80,
          },
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
          expr: 'probe_failure_info{%(probe)s} == 1' % s,
          legendFormat: '{{hop}} / {{phase}} / {{reason}}',
          range: true,
          instant: false,
          refId: 'A',
        },
      ],
      id: 21,
    },
    {
      type: 'table',
      title: 'Failure log by reason',
      description: 'Failed probes in the selected range, counted by hop, phase and reason.',
      datasource: g.datasource,
      gridPos: {
        h: 7,
        w: 12,
        x: 0,
        y: 52,
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
        showHeader: true,
        cellHeight: 'sm',
        footer: {
          show: false,
          reducer: ['sum'],
        },
        sortBy: [
          {
            displayName: 'failed probes',
            desc: true,
          },
        ],
      },
      targets: [
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'sum by (job, hop, phase, reason) (sum_over_time(probe_failure_info{%(probe)s}[$__range]))' % s,
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
            },
            renameByName: {
              Value: 'failed probes',
            },
            indexByName: {
              job: 0,
              hop: 1,
              phase: 2,
              reason: 3,
              Value: 4,
            },
          },
        },
      ],
      id: 22,
    },
    {
      type: 'timeseries',
      title: 'HTTP status and JSON-RPC error code',
      description: 'The last HTTP status (probe_http_status_code) and JSON-RPC error code (probe_mcp_jsonrpc_error_code) over time.',
      datasource: g.datasource,
      gridPos: {
        h: 7,
        w: 12,
        x: 12,
        y: 52,
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
          custom: {
            drawStyle: 'line',
            lineWidth: 1,
            fillOpacity: 10,
            showPoints: 'never',
            spanNulls: false,
            lineInterpolation: 'stepAfter',
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
          expr: 'probe_http_status_code{%(probe)s}' % s,
          legendFormat: 'HTTP status ({{job}})',
          range: true,
          instant: false,
          refId: 'A',
        },
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'probe_mcp_jsonrpc_error_code{%(probe)s}' % s,
          legendFormat: 'JSON-RPC error ({{job}})',
          range: true,
          instant: false,
          refId: 'B',
        },
      ],
      id: 23,
    },
    {
      type: 'row',
      title: 'TLS and HTTP',
      collapsed: false,
      gridPos: {
        h: 1,
        w: 24,
        x: 0,
        y: 59,
      },
      panels: [],
      id: 24,
    },
    {
      type: 'stat',
      title: 'Certificate expires in',
      description: 'Time left until the earliest-expiring certificate in the chain expires (probe_ssl_earliest_cert_expiry); https targets only.',
      datasource: g.datasource,
      gridPos: {
        h: 4,
        w: 8,
        x: 0,
        y: 60,
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
          expr: 'probe_ssl_earliest_cert_expiry{%(probe)s} - time()' % s,
          legendFormat: '{{job}}',
          range: false,
          instant: true,
          refId: 'A',
        },
      ],
      id: 25,
    },
    {
      type: 'stat',
      title: 'TLS version',
      description: 'TLS version negotiated with the target (probe_tls_version_info); https targets only.',
      datasource: g.datasource,
      gridPos: {
        h: 4,
        w: 8,
        x: 8,
        y: 60,
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
          expr: 'probe_tls_version_info{%(probe)s}' % s,
          legendFormat: '{{version}}',
          range: false,
          instant: true,
          refId: 'A',
        },
      ],
      id: 26,
    },
    {
      type: 'stat',
      title: 'HTTP version',
      description: 'HTTP version of the last answer from the target (probe_http_version): 1.1, or 2 when negotiated by ALPN or required.',
      datasource: g.datasource,
      gridPos: {
        h: 4,
        w: 8,
        x: 16,
        y: 60,
      },
      fieldConfig: {
        defaults: {
          unit: 'none',
          decimals: 1,
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
        textMode: 'value',
        justifyMode: 'auto',
        orientation: 'auto',
      },
      targets: [
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'probe_http_version{%(probe)s}' % s,
          legendFormat: '__auto',
          range: false,
          instant: true,
          refId: 'A',
        },
      ],
      id: 27,
    },
  ])
