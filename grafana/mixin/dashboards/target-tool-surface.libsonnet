// The Target board's Tool surface and Spec deviations rows: the size and quality of the tool list
// the target returns (what every agent request loads into a model's context) and the spec rules
// the server breaks. Panels carry no id and a y relative to the rows' top: appended.libsonnet
// places them under the board's other panels.
local g = import '../lib/grafana.libsonnet';

function(config)
  local s = g.selectors(config, target='single');
  [
    {
      type: 'row',
      title: 'Tool surface',
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
      title: 'Tool list size',
      description: 'Size of the canonical JSON of the whole tools/list result: what a client puts into a model\'s context on every request (probe_mcp_tools_definition_bytes).',
      datasource: g.datasource,
      gridPos: {
        h: 4,
        w: 6,
        x: 0,
        y: 1,
      },
      fieldConfig: {
        defaults: {
          unit: 'bytes',
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
          expr: 'probe_mcp_tools_definition_bytes{%(probe)s}' % s,
          legendFormat: '{{job}}',
          range: false,
          instant: true,
          refId: 'A',
        },
      ],
    },
    {
      type: 'stat',
      title: 'Tools without description',
      description: 'Tools whose description is missing or blank: an agent has only the name to choose them by (probe_mcp_tools_without_description).',
      datasource: g.datasource,
      gridPos: {
        h: 4,
        w: 6,
        x: 6,
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
                color: 'orange',
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
          expr: 'probe_mcp_tools_without_description{%(probe)s}' % s,
          legendFormat: '{{job}}',
          range: false,
          instant: true,
          refId: 'A',
        },
      ],
    },
    {
      type: 'stat',
      title: 'Invalid tool schemas',
      description: 'Tools whose inputSchema or outputSchema is not a valid JSON Schema object schema for its dialect (2020-12 unless $schema names another); clients may refuse or misuse them (probe_mcp_tool_schemas_invalid).',
      datasource: g.datasource,
      gridPos: {
        h: 4,
        w: 6,
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
          expr: 'probe_mcp_tool_schemas_invalid{%(probe)s}' % s,
          legendFormat: '{{job}}',
          range: false,
          instant: true,
          refId: 'A',
        },
      ],
    },
    {
      type: 'stat',
      title: 'Duplicate tool names',
      description: 'Tools listed under a name an earlier tool already has; a client can call only one of them (probe_mcp_tools_duplicate_names).',
      datasource: g.datasource,
      gridPos: {
        h: 4,
        w: 6,
        x: 18,
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
                color: 'orange',
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
          expr: 'probe_mcp_tools_duplicate_names{%(probe)s}' % s,
          legendFormat: '{{job}}',
          range: false,
          instant: true,
          refId: 'A',
        },
      ],
    },
    {
      type: 'timeseries',
      title: 'Tool list size over time',
      description: 'The canonical tool list\'s size over the range: growth is context every agent request pays for (probe_mcp_tools_definition_bytes; alert MCPToolListGrew).',
      datasource: g.datasource,
      gridPos: {
        h: 8,
        w: 24,
        x: 0,
        y: 5,
      },
      fieldConfig: {
        defaults: {
          unit: 'bytes',
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
          expr: 'probe_mcp_tools_definition_bytes{%(probe)s}' % s,
          legendFormat: 'bytes ({{job}})',
          range: true,
          instant: false,
          refId: 'A',
        },
      ],
    },
    {
      type: 'row',
      title: 'Spec deviations',
      collapsed: false,
      gridPos: {
        h: 1,
        w: 24,
        x: 0,
        y: 13,
      },
      panels: [],
    },
    {
      type: 'table',
      title: 'Spec deviations',
      description: 'Every rule of the fixed list of things the MCP specification forbids and the probe tolerates, with its state in the last probe: broken (1) or followed or not checked (0). Active rules need mcp.spec_checks: true; README "Spec deviations" has each rule\'s spec reference (probe_mcp_spec_deviation; alert MCPSpecDeviation).',
      datasource: g.datasource,
      gridPos: {
        h: 8,
        w: 24,
        x: 0,
        y: 14,
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
                value: 1,
              },
            ],
          },
          mappings: [
            {
              type: 'value',
              options: {
                '0': {
                  text: 'followed',
                  color: 'green',
                  index: 0,
                },
                '1': {
                  text: 'broken',
                  color: 'orange',
                  index: 1,
                },
              },
            },
          ],
        },
        overrides: [
          {
            matcher: {
              id: 'byName',
              options: 'state',
            },
            properties: [
              {
                id: 'custom.cellOptions',
                value: {
                  type: 'color-background',
                },
              },
            ],
          },
        ],
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
          expr: 'probe_mcp_spec_deviation{%(probe)s}' % s,
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
              [s.target]: true,
            },
            renameByName: {
              Value: 'state',
            },
            indexByName: {
              job: 0,
              [s.module]: 1,
              rule: 2,
              Value: 3,
            },
          },
        },
      ],
    },
  ]
