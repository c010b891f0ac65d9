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
/etc/keyward-redis, controllers.VerifierRedisSecretDir).
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
{{- toJson $config }}
{{- end }}
