package snippets

import (
	"fmt"
	"strings"
)

// The proxy snippets are the essential part of the tested configurations
// under docs/proxies, pointed at this manager's verifier: they ask the
// verifier about every request and let only the verifier's X-Keyward-*
// headers reach the upstream. A key that authenticates by bearer token
// (APIKey, or a token from ClientCredentials or ClientAssertion) passes
// them as they are; MutualTLS needs the proxy to pass the certificate
// (docs/mtls.md).

func (s snippet) proxyAbout(name string) []string {
	lines := []string{
		fmt.Sprintf("%s in front of your service, asking keyward's verifier about every request", name),
		fmt.Sprintf("(for key %s and every other key). Full, tested configuration: docs/proxies.", s.prefix()),
	}
	if s.has(MethodMutualTLS) {
		lines = append(lines, "This key uses MutualTLS: the proxy must pass the client certificate to the verifier's /authz/mtls/ endpoints (docs/mtls.md).")
	}
	return lines
}

// envoy is the HTTP filters and the cluster of Envoy's ext_authz.
func envoy(s snippet) string {
	host, port := hostPort(s.ep.decision)
	var b strings.Builder
	b.WriteString(lineComment("#", s.proxyAbout("Envoy")))
	b.WriteString("# Merge http_filters into your HttpConnectionManager and clusters into static_resources.\n")
	fmt.Fprintf(&b, `http_filters:
  - name: envoy.filters.http.lua
    typed_config:
      "@type": type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua
      default_source_code:
        inline_string: |
          function envoy_on_request(request_handle)
            local headers = request_handle:headers()
            local names = {}
            for name, _ in pairs(headers) do
              if string.sub(string.lower(name), 1, 10) == "x-keyward-" then
                table.insert(names, name)
              end
            end
            for _, name in ipairs(names) do
              headers:remove(name)
            end
          end
  - name: envoy.filters.http.ext_authz
    typed_config:
      "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz
      transport_api_version: V3
      failure_mode_allow: false
      http_service:
        server_uri:
          uri: %s
          cluster: keyward_verifier
          timeout: 0.5s
        path_prefix: %s
        authorization_request:
          allowed_headers:
            patterns:
              - exact: authorization
              - exact: argus-api-key
              - exact: x-envoy-external-address
        authorization_response:
          allowed_upstream_headers:
            patterns:
              - prefix: x-keyward-
          allowed_client_headers:
            patterns:
              - exact: www-authenticate
              - exact: retry-after
              - exact: ratelimit
              - exact: ratelimit-policy
  - name: envoy.filters.http.router
    typed_config:
      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
clusters:
  - name: keyward_verifier
    type: STRICT_DNS
    connect_timeout: 1s
    load_assignment:
      cluster_name: keyward_verifier
      endpoints:
        - lb_endpoints:
            - endpoint:
                address:
                  socket_address:
                    address: %s
                    port_value: %s
`, yamlString(s.ep.decision.String()), yamlString(strings.TrimSuffix(s.ep.decision.EscapedPath(), "/")+"/authz/envoy"), yamlString(host), port)
	if s.ep.decision.Scheme == "https" {
		fmt.Fprintf(&b, `    transport_socket:
      name: envoy.transport_sockets.tls
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
        sni: %s
`, yamlString(host))
	}
	return b.String()
}

// traefik is a Traefik forwardAuth Middleware.
func traefik(s snippet) string {
	var b strings.Builder
	b.WriteString(lineComment("#", s.proxyAbout("Traefik")))
	b.WriteString("# Attach it to your routes (IngressRoute middlewares, or the router.middlewares annotation).\n")
	fmt.Fprintf(&b, `apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata:
  name: keyward
spec:
  forwardAuth:
    address: %s
    trustForwardHeader: false
    authRequestHeaders:
      - Authorization
      - Argus-API-Key
    authResponseHeadersRegex: ^X-Keyward-
`, yamlString(join(s.ep.decision, "/authz/traefik")))
	return b.String()
}

// nginx is the locations of an nginx server using auth_request.
func nginx(s snippet) string {
	var b strings.Builder
	b.WriteString(lineComment("#", s.proxyAbout("nginx")))
	b.WriteString("# Put these locations in your server block; replace the upstream.\n")
	fmt.Fprintf(&b, `location / {
    auth_request /_keyward;
    auth_request_set $keyward_key_id $upstream_http_x_keyward_key_id;
    auth_request_set $keyward_owner $upstream_http_x_keyward_owner;
    auth_request_set $keyward_scopes $upstream_http_x_keyward_scopes;
    auth_request_set $keyward_scope $upstream_http_x_keyward_matched_scope;
    auth_request_set $keyward_secret $upstream_http_x_keyward_secret;
    proxy_set_header X-Keyward-Key-Id $keyward_key_id;
    proxy_set_header X-Keyward-Owner $keyward_owner;
    proxy_set_header X-Keyward-Scopes $keyward_scopes;
    proxy_set_header X-Keyward-Matched-Scope $keyward_scope;
    proxy_set_header X-Keyward-Secret $keyward_secret;
    proxy_set_header X-Keyward-Status "";
    auth_request_set $keyward_status $upstream_http_x_keyward_status;
    auth_request_set $keyward_retry_after $upstream_http_retry_after;
    error_page 403 = @keyward_denied;
    proxy_pass http://127.0.0.1:8080;
}

location @keyward_denied {
    add_header Retry-After $keyward_retry_after always;
    if ($keyward_status = 429) {
        return 429;
    }
    return 403;
}

location = /_keyward {
    internal;
    proxy_pass %s;
    proxy_pass_request_body off;
    proxy_set_header Content-Length "";
    proxy_set_header X-Original-URI $request_uri;
    proxy_set_header X-Original-Method $request_method;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-SSL-Client-Cert "";
}
`, join(s.ep.decision, "/authz/nginx"))
	return b.String()
}
