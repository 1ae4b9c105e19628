{{/* The release's name for every object. */}}
{{- define "landlock-injector.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "landlock-injector.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/*
Labels of the `helm test` objects: their own name and component, so that the webhook's
selector (Deployment, PodDisruptionBudget, `kubectl logs -l`) never picks up the kept test pod.
*/}}
{{- define "landlock-injector.testLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}-test
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: test
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "landlock-injector.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "landlock-injector.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "landlock-injector.shimImage" -}}
{{ .Values.shimImage.repository }}:{{ .Values.shimImage.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "landlock-injector.tlsSecret" -}}
{{- if eq .Values.tls.mode "secret" -}}
{{- required "tls.secretName is required with tls.mode=secret" .Values.tls.secretName -}}
{{- else -}}
{{- include "landlock-injector.fullname" . }}-tls
{{- end -}}
{{- end -}}

{{- define "landlock-injector.serviceDNS" -}}
{{ include "landlock-injector.fullname" . }}.{{ .Release.Namespace }}.svc
{{- end -}}

{{/* The denials DaemonSet's pods: a name of their own, so the webhook's Service, Deployment
and PodDisruptionBudget never select them. */}}
{{- define "landlock-injector.denialsSelectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}-denials
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
"true" when a registry CA is configured (registry.ca.secretName or .configMapName, not both),
else empty.
*/}}
{{- define "landlock-injector.registryCA" -}}
{{- with .Values.registry.ca -}}
{{- if and .secretName .configMapName -}}
{{- fail "registry.ca: set secretName or configMapName, not both" -}}
{{- end -}}
{{- if or .secretName .configMapName -}}true{{- end -}}
{{- end -}}
{{- end }}
