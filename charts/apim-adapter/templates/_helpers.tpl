{{/*
Expand the name of the chart.
*/}}
{{- define "apim-adapter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Create a default fully qualified app name.
We truncate at 63 chars because some Kubernetes name fields are limited to this (by the DNS naming spec).
If the release name contains the chart name it is used as the full name.
*/}}
{{- define "apim-adapter.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Chart name and version, as used by the helm.sh/chart label.
*/}}
{{- define "apim-adapter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Selector labels: stable across upgrades, so never add values that can change.
*/}}
{{- define "apim-adapter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "apim-adapter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
Labels on every object.
*/}}
{{- define "apim-adapter.labels" -}}
helm.sh/chart: {{ include "apim-adapter.chart" . }}
{{ include "apim-adapter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: ext-authz
app.kubernetes.io/part-of: istio-apim
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
Name of mesh-sync's Deployment, ServiceAccount, Role and PodMonitor (the PodMonitor's name is in the `job` label
Prometheus gives its series: `<namespace>/<this name>`, which the alerts select).
*/}}
{{- define "apim-adapter.meshSyncName" -}}
{{- printf "%s-mesh-sync" (include "apim-adapter.fullname" . | trunc 52 | trimSuffix "-") -}}
{{- end -}}

{{/*
mesh-sync's selector labels: its own app.kubernetes.io/name, as the adapter's Service and Deployment select name +
instance.
*/}}
{{- define "apim-adapter.meshSyncSelectorLabels" -}}
app.kubernetes.io/name: {{ include "apim-adapter.name" . }}-mesh-sync
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
Name of the ServiceAccount to use.
*/}}
{{- define "apim-adapter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "apim-adapter.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
Image reference: a digest pins the image; the tag defaults to the chart's appVersion.
*/}}
{{- define "apim-adapter.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/*
Secrets the adapter reads. Each entry: the values key, the Secret name suffix when the chart creates it,
the mount directory, and the keys with their inline values. A secret is "in use" when it names an
existing Secret or has an inline value; both at once is ambiguous and fails.
*/}}
{{- define "apim-adapter.secretSpecs" -}}
controlPlaneCredentials:
  suffix: control-plane
  mountPath: /etc/apim-adapter/control-plane
  data:
    username: {{ .Values.controlPlaneCredentials.username | quote }}
    password: {{ .Values.controlPlaneCredentials.password | quote }}
backendJwtKey:
  suffix: backend-jwt
  mountPath: /etc/apim-adapter/backend-jwt
  data:
    tls.key: {{ .Values.backendJwtKey.key | quote }}
apiKeyCertificate:
  suffix: api-key-certificate
  mountPath: /etc/apim-adapter/api-key-certificate
  data:
    tls.crt: {{ .Values.apiKeyCertificate.crt | quote }}
caBundle:
  suffix: ca
  mountPath: /etc/apim-adapter/ca
  data:
    ca.crt: {{ .Values.caBundle.caCrt | quote }}
redisPassword:
  suffix: redis
  mountPath: /etc/apim-adapter/redis
  data:
    password: {{ .Values.redisPassword.password | quote }}
introspectionCredentials:
  suffix: introspection
  mountPath: /etc/apim-adapter/introspection
  data:
    client-id: {{ .Values.introspectionCredentials.clientId | quote }}
    client-secret: {{ .Values.introspectionCredentials.clientSecret | quote }}
{{- end -}}

{{/*
The secrets in use, as YAML: name -> {secretName, created, mountPath, data}.
*/}}
{{- define "apim-adapter.secrets" -}}
{{- $fullname := include "apim-adapter.fullname" . -}}
{{- $result := dict -}}
{{- range $key, $spec := include "apim-adapter.secretSpecs" . | fromYaml -}}
{{- $existing := get (get $.Values $key) "existingSecret" -}}
{{- $inline := compact (values $spec.data) -}}
{{- if and $existing $inline -}}
{{- fail (printf "%s: set either existingSecret or the inline values, not both" $key) -}}
{{- end -}}
{{- if $existing -}}
{{- $_ := set $result $key (dict "secretName" $existing "created" false "mountPath" $spec.mountPath) -}}
{{- else if $inline -}}
{{- if ne (len $inline) (len $spec.data) -}}
{{- fail (printf "%s: set all of %s" $key (keys $spec.data | sortAlpha | join ", ")) -}}
{{- end -}}
{{- $_ := set $result $key (dict "secretName" (printf "%s-%s" $fullname $spec.suffix) "created" true "mountPath" $spec.mountPath "data" $spec.data) -}}
{{- end -}}
{{- end -}}
{{- toYaml $result -}}
{{- end -}}

{{/*
Catalog file rendered from catalog.inline when the file control plane has no path of its own.
*/}}
{{- define "apim-adapter.catalogMountPath" -}}
/etc/apim-adapter/catalog
{{- end -}}

{{- define "apim-adapter.usesInlineCatalog" -}}
{{- $cp := .Values.config.controlPlane -}}
{{- if and (eq (toString $cp.type) "file") (not $cp.path) -}}
true
{{- else if .Values.catalog.inline -}}
{{- fail "catalog.inline is only used by the file control plane without config.controlPlane.path: remove one of them" -}}
{{- end -}}
{{- end -}}

{{- define "apim-adapter.catalog" -}}
{{- $catalog := dict "apis" (list) "applications" (list) "subscriptions" (list) "applicationKeyMappings" (list) "subscriptionPolicies" (list) -}}
{{- toYaml (merge (deepCopy .Values.catalog.inline) $catalog) -}}
{{- end -}}

{{/*
Whether the adapter receives the gateways' access logs (config.analytics.accessLogService.enabled): the port, its
Service port, the NetworkPolicy rule and the Telemetry follow it.
*/}}
{{- define "apim-adapter.accessLogService" -}}
{{- if ((.Values.config.analytics | default dict).accessLogService | default dict).enabled -}}
true
{{- end -}}
{{- end -}}

{{/*
The adapter's config.yaml: .Values.config with the server listeners, the access log service's listener and the
mounted files' paths filled in.
*/}}
{{- define "apim-adapter.config" -}}
{{- $secrets := include "apim-adapter.secrets" . | fromYaml -}}
{{- $config := deepCopy .Values.config -}}
{{- $_ := set $config "server" (merge (dict
  "grpc" (dict "host" "0.0.0.0" "port" .Values.containerPorts.grpc)
  "http" (dict "host" "0.0.0.0" "port" .Values.containerPorts.http "pathPrefix" .Values.istio.extensionProvider.httpPathPrefix)
  "admin" (dict "host" "0.0.0.0" "port" .Values.containerPorts.admin)) (default dict $config.server)) -}}
{{- if include "apim-adapter.accessLogService" . -}}
{{- $_ := set $config.analytics "accessLogService" (merge (dict "host" "0.0.0.0" "port" .Values.containerPorts.accessLog) $config.analytics.accessLogService) -}}
{{- end -}}
{{- $cp := $config.controlPlane -}}
{{- if include "apim-adapter.usesInlineCatalog" . -}}
{{- $_ := set $cp "path" (printf "%s/catalog.yaml" (include "apim-adapter.catalogMountPath" .)) -}}
{{- end -}}
{{- $caFile := "" -}}
{{- with $secrets.caBundle -}}
{{- $caFile = printf "%s/ca.crt" .mountPath -}}
{{- if eq (toString $cp.type) "wso2" -}}
{{- $_ := merge $cp (dict "caBundle" $caFile) -}}
{{- end -}}
{{- end -}}
{{- if $caFile -}}
{{- /* The OPA servers APIM's OPA policies name and the token URLs of OAuth-secured backends (IS, in the cluster),
where they serve TLS with the same CA; an explicit one stays. */ -}}
{{- $_ := set $config "opa" (merge (default dict $config.opa) (dict "caBundle" $caFile)) -}}
{{- $_ := set $config "endpointSecurity" (merge (default dict $config.endpointSecurity) (dict "caBundle" $caFile)) -}}
{{- end -}}
{{- range $config.keyManagers -}}
{{- if $caFile -}}
{{- $_ := merge . (dict "caBundle" $caFile) -}}
{{- end -}}
{{- $introspection := .introspection -}}
{{- if $introspection -}}
{{- with $secrets.introspectionCredentials -}}
{{- $_ := merge $introspection (dict "clientIdFile" (printf "%s/client-id" .mountPath) "clientSecretFile" (printf "%s/client-secret" .mountPath)) -}}
{{- else -}}
{{- if not (and $introspection.clientIdFile $introspection.clientSecretFile) -}}
{{- fail "config.keyManagers[].introspection needs client credentials: set introspectionCredentials.existingSecret or introspectionCredentials.clientId/clientSecret" -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if eq (toString $cp.type) "wso2" -}}
{{- with $secrets.controlPlaneCredentials -}}
{{- $files := dict "usernameFile" (printf "%s/username" .mountPath) "passwordFile" (printf "%s/password" .mountPath) -}}
{{- $_ := merge $cp $files -}}
{{- if $cp.eventHub -}}
{{- $_ := merge $cp.eventHub $files -}}
{{- end -}}
{{- else -}}
{{- if not (and $cp.usernameFile $cp.passwordFile) -}}
{{- fail "config.controlPlane.type wso2 needs credentials: set controlPlaneCredentials.existingSecret or controlPlaneCredentials.username/password" -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if $config.backendJwt.enabled -}}
{{- with $secrets.backendJwtKey -}}
{{- $_ := merge $config.backendJwt (dict "keyFile" (printf "%s/tls.key" .mountPath)) -}}
{{- else -}}
{{- if not $config.backendJwt.keyFile -}}
{{- fail "config.backendJwt.enabled needs a signing key: set backendJwtKey.existingSecret or backendJwtKey.key" -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if $config.apiKeys.enabled -}}
{{- with $secrets.apiKeyCertificate -}}
{{- $certificate := dict "alias" $.Values.apiKeyCertificate.alias "file" (printf "%s/tls.crt" .mountPath) -}}
{{- $_ := set $config.apiKeys "certificates" (append (default list $config.apiKeys.certificates) $certificate) -}}
{{- else -}}
{{- if not $config.apiKeys.certificates -}}
{{- fail "config.apiKeys.enabled needs APIM's API key signing certificate: set apiKeyCertificate.existingSecret or apiKeyCertificate.crt" -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if eq (toString $config.rateLimit.backend) "redis" -}}
{{- with $secrets.redisPassword -}}
{{- $_ := set $config.rateLimit "redis" (merge (default dict $config.rateLimit.redis) (dict "passwordFile" (printf "%s/password" .mountPath))) -}}
{{- end -}}
{{- end -}}
{{- with .Values.meshSync -}}
{{- if .enabled -}}
{{- $mesh := dict "namespace" (default $.Release.Namespace .namespace) "routeKind" .routeKind "gateways" .gateways "hosts" .hosts
  "resyncSeconds" .resyncSeconds "leaseDurationSeconds" .leaseDurationSeconds "metricsPort" .metricsPort
  "healthPort" .healthPort "clusterDomain" $.Values.clusterDomain -}}
{{- with .trafficPolicy -}}
{{- $_ := set $mesh "trafficPolicy" . -}}
{{- end -}}
{{- with .exportServices -}}
{{- if .enabled -}}
{{- $export := dict "enabled" true "namespaces" .namespaces "onRemoval" .onRemoval "tiers" .tiers
  "visibility" .visibility "vhost" .vhost -}}
{{- with .gatewayEnvironment -}}
{{- $_ := set $export "gatewayEnvironment" . -}}
{{- end -}}
{{- with .publisherUrl -}}
{{- $_ := set $export "publisherUrl" . -}}
{{- end -}}
{{- $_ := set $mesh "exportServices" $export -}}
{{- end -}}
{{- end -}}
{{- $_ := set $config "meshSync" (merge (default dict $config.meshSync) $mesh) -}}
{{- end -}}
{{- end -}}
{{- toYaml $config -}}
{{- end -}}
