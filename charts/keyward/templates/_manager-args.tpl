{{/*
keyward.chartFlags is every flag of the manager the chart decides, as a
JSON list in the order of the Deployment's args: its name, the argument the
chart passes ("" where it leaves the flag at the default its objects are
built for) and what sets it. The one list both renders the args and
refuses extraArgs that would set these flags again: the manager reads its
flags in order and the last wins, so --leader-elect=false or another
--verifier-namespace in extraArgs would silently undo the chart's.
*/}}
{{- define "keyward.chartFlags" -}}
{{- $redis := .Values.verifier.redis }}
{{- $verifierTLS := get (dict "off" "" "selfManaged" "--verifier-tls=self-managed" "certManager" "--verifier-tls=secret") (include "keyward.verifierTLSMode" .) }}
{{- $verifierConfig := include "keyward.verifierConfig" . | fromJson }}
{{- $flags := list
  (dict "name" "leader-elect" "arg" "--leader-elect" "from" "always on: with more than one replica only the leader reconciles")
  (dict "name" "health-probe-bind-address" "arg" "--health-probe-bind-address=:8081" "from" "to :8081, the port of the probes")
  (dict "name" "metrics-bind-address" "arg" "--metrics-bind-address=:8443" "from" "to :8443, the port of the metrics Service")
  (dict "name" "verifier-namespace" "arg" (printf "--verifier-namespace=%s" (include "keyward.verifierNamespace" .)) "from" "from verifier.namespace")
  (dict "name" "webhook-cert-mode" "arg" (ternary "--webhook-cert-mode=external" "" (eq .Values.webhook.certificate.source "certManager")) "from" "from webhook.certificate.source")
  (dict "name" "verifier-tls" "arg" $verifierTLS "from" "from verifier.tls.mode")
  (dict "name" "verifier-config-map" "arg" (ternary "--verifier-config-map=keyward-verifier-config" "" (not (empty $verifierConfig))) "from" "from verifier.config and verifier.redis")
  (dict "name" "verifier-redis-secret" "arg" (ternary (printf "--verifier-redis-secret=%s" $redis.existingSecret) "" (and $redis.enabled (not (empty $redis.existingSecret)))) "from" "from verifier.redis.existingSecret")
  (dict "name" "verifier-image" "arg" "" "from" "from image, through $VERIFIER_IMAGE: the verifier runs the manager's image")
  (dict "name" "verifier-tls-secret" "arg" "" "from" "left at its default, the Secret the Certificate of verifier.tls.mode certManager writes")
  (dict "name" "webhook-port" "arg" "" "from" "left at its default, the target port of the webhook Service")
  (dict "name" "webhook-cert-dir" "arg" "" "from" "left at its default, where the webhook's certificate is mounted")
  (dict "name" "webhook-secret-name" "arg" "" "from" "left at its default, the Secret of webhook.certificate")
  (dict "name" "webhook-service-name" "arg" "" "from" "left at its default, the webhook Service")
  (dict "name" "webhook-configuration-name" "arg" "" "from" "left at its default, the webhook configuration the manager may update")
}}
{{- toJson $flags }}
{{- end }}

{{/*
keyward.managerArgs is the manager's args, as a JSON list: the chart's
flags, then extraArgs, none of which may set a flag of the chart's or turn
off a protection the chart installs keyward with.
*/}}
{{- define "keyward.managerArgs" -}}
{{- $flags := include "keyward.chartFlags" . | fromJsonArray }}
{{- $args := list "manager" }}
{{- range $flags }}
{{- if .arg }}{{ $args = append $args .arg }}{{ end }}
{{- end }}
{{- range $arg := .Values.extraArgs }}
{{- $name := regexReplaceAll "^--([^=]*)(=.*)?$" $arg "${1}" }}
{{- $value := ternary (regexReplaceAll "^[^=]*=" $arg "") "true" (contains "=" $arg) }}
{{- $false := has $value (list "0" "f" "F" "false" "FALSE" "False") }}
{{- range $flags }}
{{- if eq .name $name }}
{{- fail (printf "extraArgs sets --%s, which the chart sets itself (%s); the manager takes the last of two flags, so this one would override the chart's: remove it from extraArgs" $name .from) }}
{{- end }}
{{- end }}
{{- if and (eq $name "metrics-secure") $false }}
{{- fail (printf "extraArgs sets %s, which serves the metrics over plain HTTP without authentication or authorization: bind the ClusterRole keyward-metrics-reader to your scraper instead" $arg) }}
{{- end }}
{{- if and (eq $name "insecure-allow-low-pbkdf2-iterations") (not $false) }}
{{- fail (printf "extraArgs sets %s, which lets keys be hashed with fewer PBKDF2 iterations than the default: for tests and development only, not for an installation" $arg) }}
{{- end }}
{{- $args = append $args $arg }}
{{- end }}
{{- toJson $args }}
{{- end }}
