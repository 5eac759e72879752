// The Gateway and auth board's LiteLLM health view row: each MCP server's status as the gateway
// itself reports it at /v1/mcp/server/health (the litellm_health module). Panels carry no id and
// a y relative to the row's top: appended.libsonnet places them under the other panels.
local g = import '../lib/grafana.libsonnet';

function(config)
  local s = g.selectors(config, target='multi');
  [
    {
      type: 'row',
      title: 'LiteLLM health view',
      collapsed: false,
      gridPos: {
        h: 1,
        w: 24,
        x: 0,
        y: 0,
      },
      panels: [],
    },
    {
      type: 'table',
      title: 'Gateway health view',
      description: 'Each MCP server behind the gateway with the status LiteLLM itself reports at /v1/mcp/server/health (healthy, unhealthy, unknown: not checked, e.g. OAuth servers), named from /v1/mcp/server: the litellm_health module\'s probe_litellm_server_health.',
      datasource: g.datasource,
      gridPos: {
        h: 8,
        w: 12,
        x: 0,
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
          expr: 'probe_litellm_server_health{%(probe)s} == 1' % s,
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
              __name__: true,
              Value: true,
            },
            renameByName: {
              [s.target]: 'target',
            },
            indexByName: {
              [s.target]: 0,
              job: 1,
              server: 2,
              status: 3,
            },
          },
        },
      ],
    },
    {
      type: 'timeseries',
      title: 'Servers by gateway health status',
      description: 'How many servers the gateway reports in each status over time (probe_litellm_server_health; alert MCPGatewayServerUnhealthy).',
      datasource: g.datasource,
      gridPos: {
        h: 8,
        w: 12,
        x: 12,
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
          custom: {
            drawStyle: 'line',
            lineWidth: 1,
            fillOpacity: 10,
            showPoints: 'never',
            spanNulls: false,
            lineInterpolation: 'stepAfter',
          },
          min: 0,
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
          expr: 'count by (%(target)s, status) (probe_litellm_server_health{%(probe)s} == 1)' % s,
          legendFormat: '{{status}} ({{%(target)s}})' % s,
          range: true,
          instant: false,
          refId: 'A',
        },
      ],
    },
  ]
