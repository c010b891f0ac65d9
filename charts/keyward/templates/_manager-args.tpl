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
{{- $geoip := .Values.verifier.geoip }}
{{- $usageRedis := eq (include "keyward.usageAggregation" .) "redis" }}
{{- $usageRedisTLS := and $usageRedis $redis.tls.enabled }}
{{- $managerRedis := "/etc/keyward-redis" }}
{{- $_ := include "keyward.usageRedisSecret" . }}
{{- $flags := list
  (dict "name" "leader-elect" "arg" "--leader-elect" "from" "always on: with more than one replica only the leader reconciles")
  (dict "name" "health-probe-bind-address" "arg" "--health-probe-bind-address=:8081" "from" "to :8081, the port of the probes")
  (dict "name" "metrics-bind-address" "arg" "--metrics-bind-address=:8443" "from" "to :8443, the port of the metrics Service")
  (dict "name" "verifier-namespace" "arg" (printf "--verifier-namespace=%s" (include "keyward.verifierNamespace" .)) "from" "from verifier.namespace")
  (dict "name" "webhook-cert-mode" "arg" (ternary "--webhook-cert-mode=external" "" (eq .Values.webhook.certificate.source "certManager")) "from" "from webhook.certificate.source")
  (dict "name" "verifier-tls" "arg" $verifierTLS "from" "from verifier.tls.mode")
  (dict "name" "verifier-config-map" "arg" (ternary "--verifier-config-map=keyward-verifier-config" "" (not (empty $verifierConfig))) "from" "from verifier.config, verifier.redis, verifier.geoip and verifier.analytics")
  (dict "name" "verifier-redis-secret" "arg" (ternary (printf "--verifier-redis-secret=%s" $redis.existingSecret) "" (and $redis.enabled (not (empty $redis.existingSecret)))) "from" "from verifier.redis.existingSecret")
  (dict "name" "verifier-geoip-claim" "arg" (ternary (printf "--verifier-geoip-claim=%s" $geoip.existingClaim) "" (not (empty $geoip.existingClaim))) "from" "from verifier.geoip.existingClaim")
  (dict "name" "verifier-geoip-volume" "arg" (ternary (printf "--verifier-geoip-volume=%s" (toJson $geoip.volume)) "" (not (empty $geoip.volume))) "from" "from verifier.geoip.volume")
  (dict "name" "usage-aggregation" "arg" (ternary "--usage-aggregation=redis" "" $usageRedis) "from" "from verifier.analytics.aggregation")
  (dict "name" "usage-redis-address" "arg" (ternary (printf "--usage-redis-address=%s" $redis.address) "" $usageRedis) "from" "from verifier.redis.address with verifier.analytics.aggregation redis")
  (dict "name" "usage-redis-db" "arg" (ternary (printf "--usage-redis-db=%v" $redis.db) "" (and $usageRedis (not (empty $redis.db)))) "from" "from verifier.redis.db")
  (dict "name" "usage-redis-username" "arg" (ternary (printf "--usage-redis-username=%s" $redis.username) "" (and $usageRedis (not (empty $redis.username)))) "from" "from verifier.redis.username")
  (dict "name" "usage-redis-password-file" "arg" (ternary (printf "--usage-redis-password-file=%s/%s" $managerRedis $redis.passwordKey) "" (and $usageRedis (not (empty $redis.passwordKey)))) "from" "from verifier.redis.passwordKey, in verifier.analytics.managerSecret")
  (dict "name" "usage-redis-tls" "arg" (ternary "--usage-redis-tls" "" $usageRedisTLS) "from" "from verifier.redis.tls.enabled")
  (dict "name" "usage-redis-ca-file" "arg" (ternary (printf "--usage-redis-ca-file=%s/%s" $managerRedis $redis.tls.caKey) "" (and $usageRedisTLS (not (empty $redis.tls.caKey)))) "from" "from verifier.redis.tls.caKey, in verifier.analytics.managerSecret")
  (dict "name" "usage-redis-cert-file" "arg" (ternary (printf "--usage-redis-cert-file=%s/%s" $managerRedis $redis.tls.certKey) "" (and $usageRedisTLS (not (empty $redis.tls.certKey)))) "from" "from verifier.redis.tls.certKey, in verifier.analytics.managerSecret")
  (dict "name" "usage-redis-key-file" "arg" (ternary (printf "--usage-redis-key-file=%s/%s" $managerRedis $redis.tls.keyKey) "" (and $usageRedisTLS (not (empty $redis.tls.keyKey)))) "from" "from verifier.redis.tls.keyKey, in verifier.analytics.managerSecret")
  (dict "name" "usage-redis-server-name" "arg" (ternary (printf "--usage-redis-server-name=%s" $redis.tls.serverName) "" (and $usageRedisTLS (not (empty $redis.tls.serverName)))) "from" "from verifier.redis.tls.serverName")
  (dict "name" "usage-redis-prefix" "arg" "" "from" "left at its default, the prefix of the verifier's Redis keys, which the chart does not change")
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
