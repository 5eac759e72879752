// Rows appended to the boards, each from its own file. They go under the board's last panel and
// take the ids after its highest one, so rows added to a board's own file never collide with them.

// `rows` (panels with a y relative to their top and no id) placed under `panels`.
local append(panels, rows) =
  local nextId = std.foldl(std.max, [p.id for p in panels], 0) + 1;
  local bottom = std.foldl(std.max, [p.gridPos.y + p.gridPos.h for p in panels], 0);
  panels + [
    rows[i] { id: nextId + i, gridPos+: { y: bottom + rows[i].gridPos.y } }
    for i in std.range(0, std.length(rows) - 1)
  ];

{
  grafanaDashboards+:: {
    'mcp-target.json'+: {
      panels: append(super.panels, (import 'target-tool-surface.libsonnet')($._config)),
    },
    'mcp-overview.json'+: {
      panels: append(super.panels, (import 'overview-service-discovery.libsonnet')($._config)),
    },
    'mcp-gateway-auth.json'+: {
      panels: append(super.panels, (import 'gateway-health-view.libsonnet')($._config)),
    },
  },
}
