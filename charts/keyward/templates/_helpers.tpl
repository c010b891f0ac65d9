{{/*
Labels of every object: config/default's app.kubernetes.io/name and Helm's
own. Pod templates and selectors carry only keyward.selectorLabels: the
Deployment's selector is immutable, and it matches config/default's so that
the Services select the same pods either way.
*/}}
{{- define "keyward.labels" -}}
app.kubernetes.io/name: keyward
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "keyward.selectorLabels" -}}
control-plane: controller-manager
app.kubernetes.io/name: keyward
{{- end }}

{{- define "keyward.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/*
The verifier's namespace, refused when it is the manager's: the verifier
may read every Secret of its namespace, and the manager's webhook key and
the verifier's CA live in the manager's (the manager refuses to start
otherwise, later and less visibly). Refused too when it is one of the
namespaces every cluster has: the manager trusts the key records it finds
in the verifier namespace, so whoever may write Secrets there can forge a
key, and in default any namespace editor may.
*/}}
{{- define "keyward.verifierNamespace" -}}
{{- if eq .Values.verifier.namespace .Release.Namespace }}
{{- fail (printf "verifier.namespace must not be the release namespace %q: the verifier may read every Secret of its namespace, the manager's webhook key included" .Release.Namespace) }}
{{- end }}
{{- if has .Values.verifier.namespace (list "default" "kube-system" "kube-public" "kube-node-lease") }}
{{- fail (printf "verifier.namespace must not be %q: keyward trusts the key records in the verifier namespace, so only cluster administrators may be able to write there; use a namespace of its own, such as keyward-verifier" .Values.verifier.namespace) }}
{{- end }}
{{- .Values.verifier.namespace }}
{{- end }}

{{/*
verifier.tls.mode, with an unquoted off (which YAML reads as false) as "off".
*/}}
{{- define "keyward.verifierTLSMode" -}}
{{- .Values.verifier.tls.mode | default "off" }}
{{- end }}

{{/*
keyward.existingKeyPolicy is "true" when a KeyPolicy named keyPolicy.name
exists already: the chart then leaves it alone instead of creating its own,
since the hook's before-hook-creation policy would delete whatever has the
name, an administrator's policy included. Empty under `helm template`,
which sees no cluster.
*/}}
{{- define "keyward.existingKeyPolicy" -}}
{{- if lookup "keyward.dev/v1alpha1" "KeyPolicy" "" .Values.keyPolicy.name }}true{{ end }}
{{- end }}

{{/* The Service the API server calls the webhook through, and its DNS names. */}}
{{- define "keyward.webhookService" -}}keyward-webhook-service{{- end }}
{{- define "keyward.webhookSecret" -}}keyward-webhook-server-cert{{- end }}

{{/*
keyward.verifierConfig is the verifier's verifier.yaml as a dict:
verifier.config with, when verifier.redis.enabled, the Redis rate-limit
store (files of verifier.redis.existingSecret are mounted at
/etc/keyward-redis, controllers.VerifierRedisSecretDir); the analytics of
verifier.analytics that differ from the verifier's defaults; and with a
volume of verifier.geoip, the database's path in it (mounted at
/var/lib/geoip, controllers.VerifierGeoIPDir).
*/}}
{{- define "keyward.verifierConfig" -}}
{{- $config := deepCopy .Values.verifier.config }}
{{- $redis := .Values.verifier.redis }}
{{- if $redis.enabled }}
{{- $limits := get $config "rateLimits" | default dict }}
{{- if hasKey $limits "redis" }}
{{- fail "verifier.config.rateLimits.redis and verifier.redis.enabled are both set: configure Redis in one place, verifier.redis" }}
{{- end }}
{{- $dir := "/etc/keyward-redis" }}
{{- $conn := dict "address" $redis.address "fallback" $redis.fallback "quotaFallback" $redis.quotaFallback "timeoutMilliseconds" $redis.timeoutMilliseconds }}
{{- if $redis.db }}{{ $_ := set $conn "db" $redis.db }}{{ end }}
{{- if $redis.replicas }}{{ $_ := set $conn "replicas" $redis.replicas }}{{ end }}
{{- if $redis.username }}{{ $_ := set $conn "username" $redis.username }}{{ end }}
{{- $keys := list $redis.passwordKey $redis.tls.caKey $redis.tls.certKey $redis.tls.keyKey | compact }}
{{- if and $keys (not $redis.existingSecret) }}
{{- fail (printf "verifier.redis names keys of a Secret (%s) but verifier.redis.existingSecret is empty" (join ", " $keys)) }}
{{- end }}
{{- if $redis.passwordKey }}{{ $_ := set $conn "passwordFile" (printf "%s/%s" $dir $redis.passwordKey) }}{{ end }}
{{- if $redis.tls.enabled }}
{{- $tls := dict }}
{{- if $redis.tls.caKey }}{{ $_ := set $tls "caFile" (printf "%s/%s" $dir $redis.tls.caKey) }}{{ end }}
{{- if ne (empty $redis.tls.certKey) (empty $redis.tls.keyKey) }}
{{- fail "verifier.redis.tls.certKey and verifier.redis.tls.keyKey go together: a client certificate needs its key" }}
{{- end }}
{{- if $redis.tls.certKey }}
{{- $_ := set $tls "certFile" (printf "%s/%s" $dir $redis.tls.certKey) }}
{{- $_ := set $tls "keyFile" (printf "%s/%s" $dir $redis.tls.keyKey) }}
{{- end }}
{{- if $redis.tls.serverName }}{{ $_ := set $tls "serverName" $redis.tls.serverName }}{{ end }}
{{- $_ := set $conn "tls" $tls }}
{{- else if or $redis.tls.caKey $redis.tls.certKey $redis.tls.keyKey $redis.tls.serverName }}
{{- fail "verifier.redis.tls names a CA, client certificate or server name but verifier.redis.tls.enabled is false" }}
{{- end }}
{{- $_ := set $limits "store" "redis" }}
{{- $_ := set $limits "redis" $conn }}
{{- $_ := set $config "rateLimits" $limits }}
{{- end }}
{{- if hasKey $config "analytics" }}
{{- fail "verifier.config.analytics is set: configure usage analytics in one place, verifier.analytics, which the manager's flags follow too" }}
{{- end }}
{{- if hasKey $config "geoip" }}
{{- fail "verifier.config.geoip is set: give the GeoIP database with verifier.geoip, which mounts its volume and sets geoip.databasePath" }}
{{- end }}
{{- $analytics := .Values.verifier.analytics }}
{{- $counting := dict }}
{{- if not $analytics.enabled }}{{ $_ := set $counting "enabled" false }}{{ end }}
{{- if eq (include "keyward.usageAggregation" .) "redis" }}{{ $_ := set $counting "aggregation" "redis" }}{{ end }}
{{- if $analytics.maxKeys }}{{ $_ := set $counting "maxKeys" $analytics.maxKeys }}{{ end }}
{{- if $counting }}{{ $_ := set $config "analytics" $counting }}{{ end }}
{{- if include "keyward.geoipVolume" . }}
{{- $_ := set $config "geoip" (dict "databasePath" (printf "/var/lib/geoip/%s" .Values.verifier.geoip.databaseFile)) }}
{{- end }}
{{- toJson $config }}
{{- end }}

{{/*
keyward.usageAggregation is verifier.analytics.aggregation, refused as
redis without the Redis of verifier.redis, which it uses.
*/}}
{{- define "keyward.usageAggregation" -}}
{{- $aggregation := .Values.verifier.analytics.aggregation | default "embedded" }}
{{- if and (eq $aggregation "redis") (not .Values.verifier.redis.enabled) }}
{{- fail "verifier.analytics.aggregation is redis, which keeps the activity in the rate limits' Redis: set verifier.redis.enabled and verifier.redis.address, or aggregation embedded" }}
{{- end }}
{{- $aggregation }}
{{- end }}

{{/*
keyward.usageRedisSecret is the Secret of the release namespace the
manager mounts at /etc/keyward-redis for the Redis aggregation: the
manager's copy of the keys verifier.redis names in its existingSecret,
which is in the verifier namespace, out of the manager pod's reach. Empty
when the manager needs no file.
*/}}
{{- define "keyward.usageRedisSecret" -}}
{{- $redis := .Values.verifier.redis }}
{{- if eq (include "keyward.usageAggregation" .) "redis" }}
{{- $keys := list $redis.passwordKey }}
{{- if $redis.tls.enabled }}{{ $keys = concat $keys (list $redis.tls.caKey $redis.tls.certKey $redis.tls.keyKey) }}{{ end }}
{{- $keys = compact $keys }}
{{- if and $keys (not .Values.verifier.analytics.managerSecret) }}
{{- fail (printf "verifier.analytics.aggregation is redis and verifier.redis names keys of a Secret (%s), but verifier.analytics.managerSecret is empty: the manager reads the same Redis and needs those keys in a Secret of the release namespace %s" (join ", " $keys) .Release.Namespace) }}
{{- end }}
{{- if $keys }}{{ .Values.verifier.analytics.managerSecret }}{{ end }}
{{- end }}
{{- end }}

{{/*
keyward.geoipVolume is the volume source of the verifier's GeoIP database
as JSON, from verifier.geoip.existingClaim or verifier.geoip.volume; empty
for none.
*/}}
{{- define "keyward.geoipVolume" -}}
{{- $geoip := .Values.verifier.geoip }}
{{- if and $geoip.existingClaim $geoip.volume }}
{{- fail "verifier.geoip.existingClaim and verifier.geoip.volume both name the GeoIP database's volume: give one" }}
{{- end }}
{{- if $geoip.existingClaim }}
{{- dict "persistentVolumeClaim" (dict "claimName" $geoip.existingClaim "readOnly" true) | toJson }}
{{- else if $geoip.volume }}
{{- $geoip.volume | toJson }}
{{- end }}
{{- end }}
