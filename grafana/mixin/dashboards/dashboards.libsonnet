// The boards, by the file name they are written to.
{
  grafanaDashboards+:: {
    'mcp-overview.json': (import 'overview.libsonnet')($._config),
    'mcp-target.json': (import 'target.libsonnet')($._config),
    'mcp-gateway-auth.json': (import 'gateway-auth.libsonnet')($._config),
  },
}
