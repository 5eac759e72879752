// The MCP exporter / Gateway and auth board (uid mcp-exporter-gateway-auth). Queries are written against `s`, the
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
    description: 'The LiteLLM gateway and authorization view: hop status, how the gateway resolved authentication (per server on the aggregate /mcp) and its known misconfigurations, upstream outcomes, OAuth discovery health and token fetch, and MCP calls the gateway makes inside chat completions and responses.',
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
    title: 'MCP exporter / Gateway and auth',
    uid: 'mcp-exporter-gateway-auth',
    version: 1,
    weekStart: '',
  }, variables=g.variables(config, s, ['job', 'target']), panels=[
    {
      type: 'row',
      title: 'Hops',
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
      type: 'state-timeline',
      title: 'Hop status',
      description: 'Each hop the probes exercised, over time: client_to_upstream, client_to_gateway, gateway_to_upstream, client_to_auth_server (probe_hop_success).',
      datasource: g.datasource,
      gridPos: {
        h: 8,
        w: 24,
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
          expr: 'probe_hop_success{%(probe)s}' % s,
          legendFormat: '{{%(target)s}} {{hop}}' % s,
          range: true,
          instant: false,
          refId: 'A',
        },
      ],
      id: 2,
    },
    {
      type: 'timeseries',
      title: 'Failing targets by hop and phase',
      description: 'Number of failing targets per hop and phase (probe_failure_info): tells the gateway\'s own failures from its upstream\'s and from the authorization server\'s.',
      datasource: g.datasource,
      gridPos: {
        h: 8,
        w: 12,
        x: 0,
        y: 9,
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
          expr: 'sum by (hop, phase) (probe_failure_info{%(probe)s})' % s,
          legendFormat: '{{hop}} {{phase}}',
          range: true,
          instant: false,
          refId: 'A',
        },
      ],
      id: 3,
    },
    {
      type: 'bargauge',
      title: 'Hop success ratio',
      description: 'Share of probes in the selected range in which each hop worked.',
      datasource: g.datasource,
      gridPos: {
        h: 8,
        w: 12,
        x: 12,
        y: 9,
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
          expr: 'avg_over_time(probe_hop_success{%(probe)s}[$__range])' % s,
          legendFormat: '{{%(target)s}} {{hop}}' % s,
          range: false,
          instant: true,
          refId: 'A',
        },
      ],
      id: 4,
    },
    {
      type: 'row',
      title: 'LiteLLM gateway',
      collapsed: false,
      gridPos: {
        h: 1,
        w: 24,
        x: 0,
        y: 17,
      },
      panels: [],
      id: 5,
    },
    {
      type: 'state-timeline',
      title: 'Auth resolution over time',
      description: 'How the gateway resolved authentication for the probe\'s request, as its debug headers report it (probe_litellm_auth_resolution).',
      datasource: g.datasource,
      gridPos: {
        h: 8,
        w: 12,
        x: 0,
        y: 18,
      },
      fieldConfig: {
        defaults: {
          unit: 'none',
          mappings: [
            {
              type: 'value',
              options: {
                '0': {
                  text: '-',
                  color: 'transparent',
                  index: 0,
                },
                '1': {
                  text: 'active',
                  color: 'blue',
                  index: 1,
                },
              },
            },
          ],
          thresholds: {
            mode: 'absolute',
            steps: [
              {
                color: 'transparent',
                value: null,
              },
              {
                color: 'blue',
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
          expr: 'probe_litellm_auth_resolution{%(probe)s}' % s,
          legendFormat: '{{%(target)s}} {{resolution}}' % s,
          range: true,
          instant: false,
          refId: 'A',
        },
      ],
      id: 6,
    },
    {
      type: 'state-timeline',
      title: 'Known issues',
      description: 'The gateway\'s known authentication misconfigurations (probe_litellm_issue): key_leaking_to_upstream, no_oauth2_token, m2m_instead_of_user_token, m2m_token_fetch_failed, ...',
      datasource: g.datasource,
      gridPos: {
        h: 8,
        w: 12,
        x: 12,
        y: 18,
      },
      fieldConfig: {
        defaults: {
          unit: 'none',
          mappings: [
            {
              type: 'value',
              options: {
                '0': {
                  text: 'ok',
                  color: 'green',
                  index: 0,
                },
                '1': {
                  text: 'ISSUE',
                  color: 'red',
                  index: 1,
                },
              },
            },
          ],
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
          expr: 'probe_litellm_issue{%(probe)s}' % s,
          legendFormat: '{{%(target)s}} {{issue}}' % s,
          range: true,
          instant: false,
          refId: 'A',
        },
      ],
      id: 7,
    },
    {
      type: 'table',
      title: 'Server auth type',
      description: 'The upstream server\'s auth type as the gateway reports it (x-mcp-debug-server-auth-type, probe_litellm_server_auth_type_info).',
      datasource: g.datasource,
      gridPos: {
        h: 7,
        w: 8,
        x: 0,
        y: 26,
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
          expr: 'probe_litellm_server_auth_type_info{%(probe)s}' % s,
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
              auth_type: 2,
            },
          },
        },
      ],
      id: 8,
    },
    {
      type: 'state-timeline',
      title: 'OAuth2 token state',
      description: 'Whether the gateway had an OAuth2 token to send upstream: present, none, or same_as_litellm_key (probe_litellm_oauth2_token_state).',
      datasource: g.datasource,
      gridPos: {
        h: 7,
        w: 8,
        x: 8,
        y: 26,
      },
      fieldConfig: {
        defaults: {
          unit: 'none',
          mappings: [
            {
              type: 'value',
              options: {
                '0': {
                  text: '-',
                  color: 'transparent',
                  index: 0,
                },
                '1': {
                  text: 'active',
                  color: 'blue',
                  index: 1,
                },
              },
            },
          ],
          thresholds: {
            mode: 'absolute',
            steps: [
              {
                color: 'transparent',
                value: null,
              },
              {
                color: 'blue',
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
          expr: 'probe_litellm_oauth2_token_state{%(probe)s}' % s,
          legendFormat: '{{%(target)s}} {{state}}' % s,
          range: true,
          instant: false,
          refId: 'A',
        },
      ],
      id: 9,
    },
    {
      type: 'state-timeline',
      title: 'Upstream status',
      description: 'Each upstream\'s outcome as the gateway reports it: ok, unreachable, auth_required, ... (probe_litellm_upstream_status).',
      datasource: g.datasource,
      gridPos: {
        h: 7,
        w: 8,
        x: 16,
        y: 26,
      },
      fieldConfig: {
        defaults: {
          unit: 'none',
          mappings: [
            {
              type: 'value',
              options: {
                '1': {
                  text: 'reported',
                  index: 0,
                },
              },
            },
          ],
          thresholds: {
            mode: 'absolute',
            steps: [
              {
                color: 'blue',
                value: null,
              },
            ],
          },
          custom: {
            lineWidth: 0,
            fillOpacity: 80,
          },
        },
        overrides: [
          {
            matcher: {
              id: 'byRegexp',
              options: '.*: ok$',
            },
            properties: [
              {
                id: 'color',
                value: {
                  mode: 'fixed',
                  fixedColor: 'green',
                },
              },
            ],
          },
          {
            matcher: {
              id: 'byRegexp',
              options: '.*: (?!ok$).*',
            },
            properties: [
              {
                id: 'color',
                value: {
                  mode: 'fixed',
                  fixedColor: 'red',
                },
              },
            ],
          },
        ],
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
          expr: 'probe_litellm_upstream_status{%(probe)s} == 1' % s,
          legendFormat: '{{%(target)s}} {{server}}: {{status}}' % s,
          range: true,
          instant: false,
          refId: 'A',
        },
      ],
      id: 10,
    },
    {
      type: 'timeseries',
      title: 'Upstream tools',
      description: 'Tools each upstream contributes to the gateway\'s tools/list (probe_litellm_upstream_tools).',
      datasource: g.datasource,
      gridPos: {
        h: 7,
        w: 12,
        x: 0,
        y: 33,
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
          expr: 'probe_litellm_upstream_tools{%(probe)s}' % s,
          legendFormat: '{{%(target)s}} {{server}}' % s,
          range: true,
          instant: false,
          refId: 'A',
        },
      ],
      id: 11,
    },
    {
      type: 'row',
      title: 'OAuth discovery and token',
      collapsed: false,
      gridPos: {
        h: 1,
        w: 24,
        x: 0,
        y: 40,
      },
      panels: [],
      id: 12,
    },
    {
      type: 'state-timeline',
      title: 'OAuth discovery steps',
      description: 'Each authorization step over time (probe_oauth_step_success): www_authenticate, protected_resource, authorization_server, token.',
      datasource: g.datasource,
      gridPos: {
        h: 8,
        w: 12,
        x: 0,
        y: 41,
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
          expr: 'probe_oauth_step_success{%(probe)s}' % s,
          legendFormat: '{{%(target)s}} {{step}}' % s,
          range: true,
          instant: false,
          refId: 'A',
        },
      ],
      id: 13,
    },
    {
      type: 'timeseries',
      title: 'OAuth step durations',
      description: 'Time each authorization step took (probe_oauth_step_duration_seconds).',
      datasource: g.datasource,
      gridPos: {
        h: 8,
        w: 12,
        x: 12,
        y: 41,
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
          expr: 'probe_oauth_step_duration_seconds{%(probe)s}' % s,
          legendFormat: '{{%(target)s}} {{step}}' % s,
          range: true,
          instant: false,
          refId: 'A',
        },
      ],
      id: 14,
    },
    {
      type: 'stat',
      title: 'Token fetch success ratio',
      description: 'Share of probes in the selected range whose token request succeeded (probe_oauth_step_success{step="token"}).',
      datasource: g.datasource,
      gridPos: {
        h: 5,
        w: 6,
        x: 0,
        y: 49,
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
          expr: 'avg(avg_over_time(probe_oauth_step_success{%(probe)s, step="token"}[$__range]))' % s,
          legendFormat: '__auto',
          range: false,
          instant: true,
          refId: 'A',
        },
      ],
      id: 15,
    },
    {
      type: 'stat',
      title: 'Token fetch duration',
      description: 'Slowest last token request among the selected targets (probe_oauth_step_duration_seconds{step="token"}).',
      datasource: g.datasource,
      gridPos: {
        h: 5,
        w: 6,
        x: 6,
        y: 49,
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
          expr: 'max(probe_oauth_step_duration_seconds{%(probe)s, step="token"})' % s,
          legendFormat: '__auto',
          range: true,
          instant: false,
          refId: 'A',
        },
      ],
      id: 16,
    },
    {
      type: 'stat',
      title: 'PKCE S256',
      description: 'Whether the authorization server advertises PKCE with S256, which MCP clients require (probe_oauth_pkce_s256_supported).',
      datasource: g.datasource,
      gridPos: {
        h: 5,
        w: 6,
        x: 12,
        y: 49,
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
          expr: 'probe_oauth_pkce_s256_supported{%(probe)s}' % s,
          legendFormat: '{{%(target)s}}' % s,
          range: false,
          instant: true,
          refId: 'A',
        },
      ],
      id: 17,
    },
    {
      type: 'stat',
      title: 'Client registration',
      description: 'Client registration methods the authorization server supports: cimd (Client ID Metadata Documents) and dcr (Dynamic Client Registration) (probe_oauth_registration_supported).',
      datasource: g.datasource,
      gridPos: {
        h: 5,
        w: 6,
        x: 18,
        y: 49,
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
          expr: 'probe_oauth_registration_supported{%(probe)s}' % s,
          legendFormat: '{{%(target)s}} {{method}}' % s,
          range: false,
          instant: true,
          refId: 'A',
        },
      ],
      id: 18,
    },
    {
      type: 'table',
      title: 'Auth resolution per server',
      description: 'On the aggregate /mcp (resolution multiple): how the gateway resolved authentication for each selected server, from x-mcp-debug-auth-resolutions (probe_litellm_server_auth_resolution). The server is a name from the module\'s litellm.server_ids, else LiteLLM\'s hashed server id.',
      datasource: g.datasource,
      gridPos: {
        h: 7,
        w: 12,
        x: 12,
        y: 33,
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
          expr: 'probe_litellm_server_auth_resolution{%(probe)s}' % s,
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
              server: 2,
              resolution: 3,
            },
          },
        },
      ],
      id: 19,
    },
    {
      type: 'state-timeline',
      title: 'Protected-resource match',
      description: 'How the protected-resource metadata\'s resource matched the target: exact, prefix (accepted by default, as the SDK clients do) or none (the metadata names another resource) (probe_oauth_resource_match).',
      datasource: g.datasource,
      gridPos: {
        h: 7,
        w: 6,
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
                  text: '-',
                  color: 'transparent',
                  index: 0,
                },
                '1': {
                  text: 'matched',
                  color: 'blue',
                  index: 1,
                },
              },
            },
          ],
          thresholds: {
            mode: 'absolute',
            steps: [
              {
                color: 'transparent',
                value: null,
              },
              {
                color: 'blue',
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
          expr: 'probe_oauth_resource_match{%(probe)s}' % s,
          legendFormat: '{{%(target)s}} {{match}}' % s,
          range: true,
          instant: false,
          refId: 'A',
        },
      ],
      id: 20,
    },
    {
      type: 'stat',
      title: 'Default endpoints assumed',
      description: 'With discovery.default_endpoints_fallback: yes when the server published no metadata and the 2025-03-26 defaults (/authorize, /token on its origin) were assumed. Current clients need protected-resource metadata (probe_oauth_default_endpoints_assumed).',
      datasource: g.datasource,
      gridPos: {
        h: 7,
        w: 6,
        x: 6,
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
                  text: 'no',
                  color: 'green',
                  index: 0,
                },
                '1': {
                  text: 'yes',
                  color: 'orange',
                  index: 1,
                },
              },
            },
          ],
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
          expr: 'probe_oauth_default_endpoints_assumed{%(probe)s}' % s,
          legendFormat: '{{%(target)s}}' % s,
          range: false,
          instant: true,
          refId: 'A',
        },
      ],
      id: 21,
    },
    {
      type: 'bargauge',
      title: 'Token from cache',
      description: 'Share of probes in the selected range that reused a cached client-credentials token instead of requesting one (probe_oauth_token_from_cache). Near 0 means tokens expire quickly or are rejected and dropped.',
      datasource: g.datasource,
      gridPos: {
        h: 7,
        w: 6,
        x: 12,
        y: 54,
      },
      fieldConfig: {
        defaults: {
          unit: 'percentunit',
          min: 0,
          max: 1,
          decimals: 2,
          thresholds: {
            mode: 'absolute',
            steps: [
              {
                color: 'blue',
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
        orientation: 'horizontal',
        displayMode: 'gradient',
        showUnfilled: true,
        valueMode: 'color',
        namePlacement: 'auto',
        sizing: 'auto',
        minVizHeight: 16,
        minVizWidth: 8,
        maxVizHeight: 300,
      },
      targets: [
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'avg_over_time(probe_oauth_token_from_cache{%(probe)s}[$__range])' % s,
          legendFormat: '{{%(target)s}} ({{job}})' % s,
          range: false,
          instant: true,
          refId: 'A',
        },
      ],
      id: 22,
    },
    {
      type: 'table',
      title: 'Token request refusals',
      description: 'Probes in the selected range whose token request the authorization server refused, by OAuth error code: invalid_client (wrong secret), invalid_scope, invalid_target (resource), unauthorized_client, ..., other, none (no code) (probe_oauth_token_error_info).',
      datasource: g.datasource,
      gridPos: {
        h: 7,
        w: 6,
        x: 18,
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
          expr: 'sum by (%(target)s, job, error) (count_over_time(probe_oauth_token_error_info{%(probe)s}[$__range]))' % s,
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
              [s.target]: 'target',
              Value: 'refused probes',
            },
            indexByName: {
              [s.target]: 0,
              job: 1,
              'error': 2,
              Value: 3,
            },
          },
        },
      ],
      id: 23,
    },
    {
      type: 'row',
      title: 'LiteLLM embedded MCP calls',
      collapsed: false,
      gridPos: {
        h: 1,
        w: 24,
        x: 0,
        y: 61,
      },
      panels: [],
      id: 24,
    },
    {
      type: 'stat',
      title: 'Probed tool listed',
      description: 'litellm_completion: whether the gateway listed the probed tool to the model for the request (probe_litellm_completion_tool_listed). No: the server\'s tools did not load or the tool name is wrong.',
      datasource: g.datasource,
      gridPos: {
        h: 5,
        w: 6,
        x: 0,
        y: 62,
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
                  color: 'red',
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
          expr: 'probe_litellm_completion_tool_listed{%(probe)s}' % s,
          legendFormat: '{{%(target)s}}' % s,
          range: false,
          instant: true,
          refId: 'A',
        },
      ],
      id: 25,
    },
    {
      type: 'stat',
      title: 'Tools listed to the model',
      description: 'litellm_completion: tools the gateway listed for the model from the probed MCP server (probe_litellm_completion_tools).',
      datasource: g.datasource,
      gridPos: {
        h: 5,
        w: 6,
        x: 6,
        y: 62,
      },
      fieldConfig: {
        defaults: {
          unit: 'short',
          decimals: 0,
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
          expr: 'probe_litellm_completion_tools{%(probe)s}' % s,
          legendFormat: '{{%(target)s}}' % s,
          range: false,
          instant: true,
          refId: 'A',
        },
      ],
      id: 26,
    },
    {
      type: 'stat',
      title: 'Tool calls per request',
      description: 'litellm_completion: how many times the gateway called the probed tool during one request; 1 when healthy, 0 when the model or listing failed before the call, more when retries repeated it (probe_litellm_completion_tool_calls).',
      datasource: g.datasource,
      gridPos: {
        h: 5,
        w: 6,
        x: 12,
        y: 62,
      },
      fieldConfig: {
        defaults: {
          unit: 'short',
          decimals: 0,
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
              {
                color: 'orange',
                value: 2,
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
          expr: 'probe_litellm_completion_tool_calls{%(probe)s}' % s,
          legendFormat: '{{%(target)s}}' % s,
          range: false,
          instant: true,
          refId: 'A',
        },
      ],
      id: 27,
    },
    {
      type: 'stat',
      title: 'Gateway retries',
      description: 'litellm_completion: retries the gateway made for the request (x-litellm-attempted-retries, probe_litellm_completion_attempted_retries); each repeats the MCP call, so keep retries off for the probe model.',
      datasource: g.datasource,
      gridPos: {
        h: 5,
        w: 6,
        x: 18,
        y: 62,
      },
      fieldConfig: {
        defaults: {
          unit: 'short',
          decimals: 0,
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
          expr: 'probe_litellm_completion_attempted_retries{%(probe)s}' % s,
          legendFormat: '{{%(target)s}}' % s,
          range: false,
          instant: true,
          refId: 'A',
        },
      ],
      id: 28,
    },
    {
      type: 'timeseries',
      title: 'Completion request duration',
      description: 'litellm_completion: the whole request as the probe measured it (phase completion_request, probe_mcp_phase_duration_seconds) and as the gateway reports it (x-litellm-response-duration-ms, probe_litellm_completion_gateway_duration_seconds). A large gap is time outside the gateway\'s handler: network, queueing, body transfer.',
      datasource: g.datasource,
      gridPos: {
        h: 8,
        w: 24,
        x: 0,
        y: 67,
      },
      fieldConfig: {
        defaults: {
          unit: 's',
          min: 0,
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
          expr: 'probe_mcp_phase_duration_seconds{%(probe)s, phase="completion_request"}' % s,
          legendFormat: '{{%(target)s}} measured' % s,
          range: true,
          instant: false,
          refId: 'A',
        },
        {
          datasource: g.datasource,
          editorMode: 'code',
          expr: 'probe_litellm_completion_gateway_duration_seconds{%(probe)s}' % s,
          legendFormat: '{{%(target)s}} gateway-reported' % s,
          range: true,
          instant: false,
          refId: 'B',
        },
      ],
      id: 29,
    },
  ])
