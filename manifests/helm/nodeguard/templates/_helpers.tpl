{{/*
The chart's own labels, on every object's metadata (never in selectors, so
the objects stay those of the kustomize base). Object names are fixed, as in
the base: one release per cluster.
*/}}
{{- define "nodeguard.chartLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name | trunc 63 | quote }}
app.kubernetes.io/version: {{ .Values.image.tag | trunc 63 | quote }}
{{- end }}

{{- define "nodeguard.agentLabels" -}}
app.kubernetes.io/name: nodeguard
app.kubernetes.io/component: agent
{{- end }}

{{/* HTTPS when /metrics is behind the API server's token checks. */}}
{{- define "nodeguard.metricsScheme" -}}
{{ if eq .Values.metrics.auth "kubernetes" }}HTTPS{{ else }}HTTP{{ end }}
{{- end }}
