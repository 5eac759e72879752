// The Overview board's Service discovery row: the exporter's /sd sources (a LiteLLM gateway's
// server list), read from the exporter's own /metrics through the exporter selector. Panels carry
// no id and a y relative to the row's top: appended.libsonnet places them under the other panels.
local g = import '../lib/grafana.libsonnet';

function(config)
  local s = g.selectors(config, target='multi');
  [
    {
      type: 'row',
      title: 'Service discovery',
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
      type: 'stat',
      title: 'SD last refresh',
      description: 'Whether the last refresh of each /sd source\'s target list from its LiteLLM gateway succeeded; while it fails the last good list is served (mcp_exporter_sd_last_refresh_successful; alert MCPServiceDiscoveryFailing).',
      datasource: g.datasource,
      gridPos: {
        h: 5,
        w: 6,
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
                color: 'red',
                value: null,
              },
              {
                color: 'green',
                value: 1,
              },
            ],
          },
          mappings: [
            {
              type: 'value',
              options: {
                '0': {
                  text: 'failing (last good list served)',
                  color: 'red',
                  index: 0,
                },
                '1': {
                  text: 'ok',
                  color: 'green',
                  index: 1,
                },
              },
            },
          ],
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
          expr: 'mcp_exporter_sd_last_refresh_successful{%(exporter)s}' % s,
          legendFormat: '{{source}}',
          range: false,
          instant: true,
          refId: 'A',
        },
      ],
    },
    {
      type: 'stat',
      title: 'SD list age',
      description: 'Time since each source\'s last successful refresh (mcp_exporter_sd_last_success_timestamp_seconds).',
      datasource: g.datasource,
      gridPos: {
        h: 5,
        w: 6,
        x: 6,
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
          expr: 'time() - mcp_exporter_sd_last_success_timestamp_seconds{%(exporter)s}' % s,
          legendFormat: '{{source}}',
          range: false,
          instant: true,
          refId: 'A',
        },
      ],
    },
    {
      type: 'timeseries',
      title: 'SD targets',
      description: 'Targets in each source\'s last good list: one per MCP server the source\'s key may use (mcp_exporter_sd_targets).',
      datasource: g.datasource,
      gridPos: {
        h: 5,
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
          expr: 'mcp_exporter_sd_targets{%(exporter)s}' % s,
          legendFormat: '{{source}}',
          range: true,
          instant: false,
          refId: 'A',
        },
      ],
    },
    {
      type: 'timeseries',
      title: 'SD refreshes by result',
      description: 'Refreshes of each source\'s list from its gateway per second, by result (mcp_exporter_sd_refreshes_total).',
      datasource: g.datasource,
      gridPos: {
        h: 7,
        w: 24,
        x: 0,
        y: 6,
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
            ],
          },
          custom: {
            drawStyle: 'line',
            lineWidth: 1,
            fillOpacity: 10,
            showPoints: 'never',
            spanNulls: false,
            lineInterpolation: 'linear',
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
          expr: 'sum by (source, result) (rate(mcp_exporter_sd_refreshes_total{%(exporter)s}[$__rate_interval]))' % s,
          legendFormat: '{{source}} {{result}}',
          range: true,
          instant: false,
          refId: 'A',
        },
      ],
    },
  ]
