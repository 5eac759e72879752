// The alerting rules. Each alert says what to check, links its board (dashboard_url) and its
// README runbook section (runbook_url). Probe alerts read only the series of config.probeSelector.
local util = import '../lib/util.libsonnet';

// A description written on several lines reads as one line, as YAML's folded style would.
local fold(text) = std.join(' ', [std.stripChars(l, ' ') for l in std.split(text, '\n') if std.stripChars(l, ' ') != '']);

{
  local c = $._config,
  local withRunbook(rules, probe) = [
    r {
      annotations: (if probe then util.probeAnnotations(c, super.annotations) else super.annotations)
                   + { runbook_url: util.runbook(c, r.alert) },
    }
    for r in rules
  ],

  prometheusAlerts+:: {
    groups+: [
      {
        name: 'mcp-exporter.probes',
        rules: withRunbook([
        {
          alert: 'MCPProbeFailing',
          expr: 'probe_success{%(probeSelector)s} == 0' % c,
          'for': '2m',
          labels: { severity: c.severities.page },
          annotations: {
            summary: 'MCP probe of {{ $labels.instance }} is failing',
            description: fold(|||
              The {{ $labels.job }} probe of {{ $labels.instance }} has failed for 2 minutes{{ with query
              (printf "probe_failure_info{job=%q,instance=%q} == 1" $labels.job $labels.instance) }}{{
              with first . }} at hop {{ .Labels.hop }}, phase {{ .Labels.phase }}, reason {{
              .Labels.reason }}{{ end }}{{ end }}. Run `mcp-exporter probe {{ $labels.instance }}` (or
              /probe?debug=true on the exporter) for each hop and step with what to check next. dns,
              connect_refused, connect_timeout: is the server running and reachable from the exporter;
              tls: certificate chain, names, expiry; auth_required, forbidden, token_rejected: the
              module's credentials; not_mcp: the URL path and transport; upstream_unreachable: the
              gateway's upstream (gateway board).
            |||),
            dashboard_url: util.boardURL(c, 'mcp-exporter-target'),
          },
        },
        {
          alert: 'MCPProbeScrapeFailing',
          expr: 'up{%(probeSelector)s} == 0' % c,
          'for': '5m',
          labels: { severity: c.severities.page },
          annotations: {
            summary: 'Prometheus gets no probe result for {{ $labels.instance }}',
            description: fold(|||
              Prometheus cannot scrape the {{ $labels.job }} probe of {{ $labels.instance }}, so there is
              no probe_success to alert on. Check that the exporter is up (MCPExporterDown), that the
              scrape's module exists in the exporter's /config (an unknown module or an invalid target is
              answered with 400, see mcp_exporter_module_unknown_total), and that scrape_timeout is longer
              than the module's timeout.
            |||),
            dashboard_url: util.boardURL(c, 'mcp-exporter-overview', target=false),
          },
        },
        {
          alert: 'MCPProbePhaseSlow',
          expr: 'avg_over_time(probe_mcp_phase_duration_seconds{%(probeSelector)s}[5m]) > %(phaseSlowSeconds)s' % c,
          'for': '10m',
          labels: { severity: c.severities.ticket },
          annotations: {
            summary: 'MCP phase {{ $labels.phase }} of {{ $labels.instance }} is slow',
            description: fold(|||
              The {{ $labels.phase }} phase of the {{ $labels.job }} probe of {{ $labels.instance }} has
              averaged {{ $value | humanizeDuration }} over 5 minutes (threshold 2s). Check, for dns,
              connect, tls: the network path and name resolution from the exporter; for initialize,
              tools_list: the server's startup work and its upstream dependencies; through a gateway,
              compare with the upstream probed directly to tell the proxy hop from the upstream hop.
            |||),
            dashboard_url: util.boardURL(c, 'mcp-exporter-target'),
          },
        },
        {
          alert: 'MCPToolListChanged',
          expr: 'changes(probe_mcp_tools_fingerprint{%(probeSelector)s}[15m]) > 0' % c,
          labels: { severity: c.severities.info },
          annotations: {
            summary: 'Tool list of {{ $labels.instance }} changed',
            description: fold(|||
              The tools that {{ $labels.instance }} returns from tools/list (names, schemas or
              descriptions) changed {{ $value }} time(s) in the last 15 minutes{{ with query (printf
              "probe_mcp_tools{job=%q,instance=%q}" $labels.job $labels.instance) }}{{ with first . }}; it
              now lists {{ .Value }} tools{{ end }}{{ end }}. Check that a deployment was expected;
              `mcp-exporter probe {{ $labels.instance }} --json` shows the current list. Unexpected
              changes to tool descriptions can be a tool-poisoning attempt.
            |||),
            dashboard_url: util.boardURL(c, 'mcp-exporter-target'),
          },
        },
        {
          alert: 'MCPProtocolVersionBelowFloor',
          expr: 'probe_mcp_server_info{%(probeSelector)s, protocol_version=~"%(protocolVersionsBelowFloor)s"} == 1' % c,
          'for': '15m',
          labels: { severity: c.severities.ticket },
          annotations: {
            summary: '{{ $labels.instance }} negotiates MCP revision {{ $labels.protocol_version }}',
            description: fold(|||
              {{ $labels.instance }} ({{ $labels.server_name }} {{ $labels.server_version }}) negotiated
              MCP protocol revision {{ $labels.protocol_version }} over {{ $labels.transport }}, older
              than the floor 2025-06-18. Upgrade the server or its MCP SDK; clients that require the newer
              revision (OAuth resource indicators, structured tool output) will not work with it.
            |||),
            dashboard_url: util.boardURL(c, 'mcp-exporter-target'),
          },
        },
        {
          alert: 'MCPCertificateExpiringSoon',
          expr: 'probe_ssl_earliest_cert_expiry{%(probeSelector)s} - time() < %(certExpiryWarningDays)s * 86400 >= %(certExpiryCriticalDays)s * 86400' % c,
          'for': '15m',
          labels: { severity: c.severities.ticket },
          annotations: {
            summary: 'TLS certificate of {{ $labels.instance }} expires in {{ $value | humanizeDuration }}',
            description: fold(|||
              The earliest-expiring certificate in the chain served by {{ $labels.instance }} expires in
              {{ $value | humanizeDuration }}. Check the certificate's renewal (cert-manager, ACME client
              or the load balancer in front of the server); once it has expired the probe fails with
              reason tls.
            |||),
            dashboard_url: util.boardURL(c, 'mcp-exporter-overview', target=false),
          },
        },
        {
          alert: 'MCPCertificateExpiringVerySoon',
          expr: 'probe_ssl_earliest_cert_expiry{%(probeSelector)s} - time() < %(certExpiryCriticalDays)s * 86400 > 0' % c,
          'for': '5m',
          labels: { severity: c.severities.page },
          annotations: {
            summary: 'TLS certificate of {{ $labels.instance }} expires in {{ $value | humanizeDuration }}',
            description: fold(|||
              The earliest-expiring certificate in the chain served by {{ $labels.instance }} expires in
              {{ $value | humanizeDuration }}, and its renewal has not happened in time. Check the
              renewal job's logs (cert-manager Certificate and CertificateRequest status, the ACME
              client, the load balancer's certificate), then that the server or its proxy reloaded the
              new certificate; MCP clients refuse the connection once it expires.
            |||),
            dashboard_url: util.boardURL(c, 'mcp-exporter-target'),
          },
        },
        {
          alert: 'MCPCertificateExpired',
          // A verifying probe fails the handshake once the certificate has expired and reads no
          // expiry any more: the last expiry seen in three days still tells, while the target is
          // probed at all (a removed target stops alerting).
          expr: '(time() - last_over_time(probe_ssl_earliest_cert_expiry{%(probeSelector)s}[3d]) >= 0) and probe_success{%(probeSelector)s}' % c,
          labels: { severity: c.severities.page },
          annotations: {
            summary: 'TLS certificate of {{ $labels.instance }} has expired',
            description: fold(|||
              The certificate served by {{ $labels.instance }} expired {{ $value | humanizeDuration }}
              ago; MCP clients and the probe (reason tls) refuse the
              connection. Check which certificate the server or the proxy in front of it serves
              (`openssl s_client -connect host:443 -servername host`), renew it, and reload the
              server.
            |||),
            dashboard_url: util.boardURL(c, 'mcp-exporter-target'),
          },
        },
        ], probe=true),
      },
      {
        name: 'mcp-exporter.slo',
        rules: withRunbook([
          {
            alert: 'MCPProbeErrorBudgetBurn',
            // Both windows over the threshold: the long one says enough budget burned, the short
            // one that it is still burning (so the alert resolves soon after the target recovers).
            // The long window must also hold at least half the probes it spans (compared with the
            // short one's, so any scrape interval works): a target added minutes ago, whose first
            // probe failed, would otherwise look as if its whole window had failed.
            expr: |||
              target:probe_success:error_ratio%(long)s > (%(factor)g * (1 - %(objective)g))
              and
              target:probe_success:error_ratio%(short)s > (%(factor)g * (1 - %(objective)g))
              and
              target:probe_success:samples%(long)s >= %(half)g * target:probe_success:samples%(short)s
            ||| % (w { objective: c.sloObjective, half: util.seconds(w.long) / util.seconds(w.short) / 2 }),
            'for': w['for'],
            labels: {
              severity: c.severities[w.severity],
              long_window: w.long,
              short_window: w.short,
            },
            annotations: {
              summary: '{{ $labels.instance }} burns its probe error budget %gx as fast as allowed' % w.factor,
              description: fold(|||
                {{ $value | humanizePercentage }} of the {{ $labels.job }} probes of
                {{ $labels.instance }} failed over the last %(long)s, and still over the last
                %(short)s, while the objective %(objective)g allows %(budget)s: the error budget burns at
                %(factor)gx the rate that would use it up in 30 days, or faster. Run `mcp-exporter probe {{ $labels.instance }}` and
                read the failures by hop, phase and reason on the target board: which hop fails
                (exporter to gateway, gateway to upstream, the authorization server), then that
                hop's runbook steps.
              ||| % (w { objective: c.sloObjective, budget: '%g%%' % ((1 - c.sloObjective) * 100) })),
              dashboard_url: util.boardURL(c, 'mcp-exporter-target'),
            },
          }
          for w in c.sloBurnRateWindows
        ], probe=true),
      },
      {
        name: 'mcp-exporter.gateway',
        rules: withRunbook([
        {
          alert: 'MCPGatewayAuthMisconfigured',
          expr: 'probe_litellm_issue{%(probeSelector)s} == 1' % c,
          'for': '5m',
          labels: { severity: '{{ if eq $labels.issue "key_leaking_to_upstream" }}%s{{ else }}%s{{ end }}' % [c.severities.page, c.severities.ticket] },
          annotations: {
            summary: 'LiteLLM gateway {{ $labels.instance }} reports {{ $labels.issue }}',
            description: fold(|||
              The gateway's debug headers for {{ $labels.instance }} show a known authentication
              misconfiguration: {{ $labels.issue }}. {{ if eq $labels.issue "key_leaking_to_upstream"
              }}The LiteLLM key is forwarded to the upstream MCP server: send upstream credentials in
              x-mcp-{alias}-authorization headers or the server's auth settings in mcp_servers, and rotate
              the exposed key.{{ else if eq $labels.issue "no_oauth2_token" }}The server is configured for
              OAuth2 but the gateway had no token to send: check the server's auth_type and client
              credentials in mcp_servers, and that the user completed the OAuth flow.{{ else if eq
              $labels.issue "m2m_instead_of_user_token" }}The gateway sent a machine-to-machine token
              where the server expects the user's token: check the server's OAuth2 flow in mcp_servers.{{
              else if eq $labels.issue "m2m_token_fetch_failed" }}The gateway's own client-credentials
              token request for an oauth2 server was refused: correct the server's client_id,
              client_secret, token_url and scopes in mcp_servers, and check that the gateway reaches the
              token endpoint.{{ else }}See the exporter's metric reference for this issue.{{ end }} The gateway board shows
              the auth resolution and token state over time.
            |||),
            dashboard_url: util.boardURL(c, 'mcp-exporter-gateway-auth'),
          },
        },
        {
          alert: 'MCPUpstreamHopDown',
          expr: 'probe_hop_success{%(probeSelector)s, hop="gateway_to_upstream"} == 0' % c,
          'for': '2m',
          labels: { severity: c.severities.page },
          annotations: {
            summary: 'Gateway {{ $labels.instance }} cannot reach its MCP server',
            description: fold(|||
              The gateway {{ $labels.instance }} answers, but its own call to the MCP server behind it
              fails. Check the upstream's status as the gateway reports it (probe_litellm_upstream_status
              on the gateway board), the upstream's URL and credentials in the gateway's mcp_servers, and
              the network path from the gateway to the upstream; a probe of the upstream made directly
              from the exporter tells the upstream's health from the gateway's path to it.
            |||),
            dashboard_url: util.boardURL(c, 'mcp-exporter-gateway-auth'),
          },
        },
        {
          alert: 'MCPGatewayUpstreamNotOk',
          expr: 'probe_litellm_upstream_status{%(probeSelector)s, status!="ok"} == 1' % c,
          'for': '5m',
          labels: { severity: c.severities.ticket },
          annotations: {
            summary: 'Gateway {{ $labels.instance }} reports upstream {{ $labels.server }} as {{ $labels.status }}',
            description: fold(|||
              The gateway {{ $labels.instance }} reports the outcome {{ $labels.status }} for its MCP
              server {{ $labels.server }}, whose tools are then missing from the gateway's tools/list.
              Check, for unreachable: the server's URL and the network path from the gateway; for
              auth_required: the credentials the gateway sends to that server (x-mcp-{{ $labels.server
              }}-* headers or its auth settings in mcp_servers).
            |||),
            dashboard_url: util.boardURL(c, 'mcp-exporter-gateway-auth'),
          },
        },
        ], probe=true),
      },
      {
        name: 'mcp-exporter.auth',
        rules: withRunbook([
        {
          alert: 'MCPOAuthDiscoveryBroken',
          expr: 'probe_oauth_step_success{%(probeSelector)s, step=~"www_authenticate|protected_resource|authorization_server"} == 0' % c,
          'for': '5m',
          labels: { severity: c.severities.page },
          annotations: {
            summary: 'OAuth discovery step {{ $labels.step }} fails for {{ $labels.instance }}',
            description: fold(|||
              MCP clients cannot discover how to authorize against {{ $labels.instance }}: the {{
              $labels.step }} step fails. Check, for www_authenticate: the 401 must carry WWW-Authenticate
              with resource_metadata; for protected_resource: the RFC 9728 metadata URL (header URL, then
              .well-known/oauth-protected-resource) must answer with valid JSON whose resource matches;
              for authorization_server: the issuer's RFC 8414 / OpenID metadata must be reachable and its
              issuer must match. `mcp-exporter probe {{ $labels.instance }} --module discovery` shows
              every URL tried.
            |||),
            dashboard_url: util.boardURL(c, 'mcp-exporter-gateway-auth'),
          },
        },
        {
          alert: 'MCPOAuthTokenFetchFailing',
          expr: 'probe_oauth_step_success{%(probeSelector)s, step="token"} == 0' % c,
          'for': '5m',
          labels: { severity: c.severities.page },
          annotations: {
            summary: 'The exporter cannot get an OAuth token for {{ $labels.instance }}',
            description: fold(|||
              The client-credentials token request for the {{ $labels.job }} probe of {{ $labels.instance
              }} fails{{ with query (printf "probe_oauth_token_error_info{job=%q,instance=%q} == 1"
              $labels.job $labels.instance) }}{{ with first . }} (the authorization server answered {{
              .Labels.error }}){{ end }}{{ end }}, so the probe cannot authenticate. Check the module's
              client id and secret (invalid_client), the requested scopes (invalid_scope), the resource it
              asks for (invalid_target), and the token endpoint in the authorization-server metadata; the
              failure reason (token_fetch_failed, timeout, tls) and the refusals by error code are on the
              gateway and auth board.
            |||),
            dashboard_url: util.boardURL(c, 'mcp-exporter-gateway-auth'),
          },
        },
        {
          alert: 'MCPOAuthPKCEUnsupported',
          expr: 'probe_oauth_pkce_s256_supported{%(probeSelector)s} == 0' % c,
          'for': '15m',
          labels: { severity: c.severities.ticket },
          annotations: {
            summary: 'Authorization server of {{ $labels.instance }} does not advertise PKCE S256',
            description: fold(|||
              The authorization-server metadata discovered for {{ $labels.instance }} has no S256 in
              code_challenge_methods_supported. MCP clients must use PKCE with S256 and refuse to
              authorize without it: enable PKCE on the authorization server and publish it in its
              metadata.
            |||),
            dashboard_url: util.boardURL(c, 'mcp-exporter-gateway-auth'),
          },
        },
        {
          alert: 'MCPOAuthRegistrationMissing',
          expr: 'max without (method) (probe_oauth_registration_supported{%(probeSelector)s}) == 0' % c,
          'for': '15m',
          labels: { severity: c.severities.ticket },
          annotations: {
            summary: 'Authorization server of {{ $labels.instance }} offers no client registration',
            description: fold(|||
              The authorization server discovered for {{ $labels.instance }} supports neither Client ID
              Metadata Documents (client_id_metadata_document_supported) nor Dynamic Client Registration
              (registration_endpoint), so MCP clients without a pre-registered client id cannot log in.
              Enable one of them or document the pre-registered client for your users.
            |||),
            dashboard_url: util.boardURL(c, 'mcp-exporter-gateway-auth'),
          },
        },
        ], probe=true),
      },
      {
        name: 'mcp-exporter.exporter',
        rules: withRunbook([
        {
          alert: 'MCPExporterConfigReloadFailed',
          expr: 'mcp_exporter_config_last_reload_successful{%(exporterSelector)s} == 0' % c,
          'for': '5m',
          labels: { severity: c.severities.ticket },
          annotations: {
            summary: 'mcp-exporter {{ $labels.instance }} failed to reload its configuration',
            description: fold(|||
              The last configuration reload of the exporter {{ $labels.instance }} failed; it keeps
              probing with the previous configuration. Run `mcp-exporter --config.check` on the file for
              the location and reason of the error, fix it, then reload (SIGHUP or POST /-/reload).
            |||),
            dashboard_url: util.exporterBoardURL(c),
          },
        },
        {
          alert: 'MCPExporterDown',
          expr: 'up{%(exporterSelector)s} == 0' % c,
          'for': '5m',
          labels: { severity: c.severities.page },
          annotations: {
            summary: 'mcp-exporter {{ $labels.instance }} is down',
            description: fold(|||
              Prometheus cannot scrape the exporter's own metrics at {{ $labels.instance }}, so no MCP
              target is being probed through it. Check the process or container, its logs, and GET
              /-/healthy; probes through it fail as well (MCPProbeScrapeFailing).
            |||),
            dashboard_url: util.exporterBoardURL(c),
          },
        },
        {
          alert: 'MCPExporterNotScraped',
          expr: 'absent(up{%(exporterSelector)s})' % c,
          'for': '10m',
          labels: { severity: c.severities.page },
          annotations: {
            summary: 'Prometheus is not scraping mcp-exporter',
            description: fold(|||
              No target of the job mcp_exporter exists in Prometheus, so neither the exporter's health nor
              its probes are watched. Check the scrape configuration (job mcp_exporter in prometheus.yml)
              and its service discovery.
            |||),
            dashboard_url: util.boardURL(c, 'mcp-exporter-overview', target=false),
          },
        },
        ], probe=false),
      },
    ],
  },
}
