{{/* The namespace the helm test's opted-in pod runs in (the webhook never mutates its own). */}}
{{- define "landlock-injector.testNamespace" -}}
{{- printf "%s-test" (include "landlock-injector.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Labels that satisfy a LabelSelector where labels can (matchLabels, In: the first value, Exists),
so the test pod and its namespace fall inside webhook.objectSelector/namespaceSelector.
kubernetes.io/metadata.name is the API server's to set.
*/}}
{{- define "landlock-injector.labelsMatching" -}}
{{- $labels := dict -}}
{{- range $key, $value := .matchLabels | default dict -}}
{{- $_ := set $labels $key (toString $value) -}}
{{- end -}}
{{- range .matchExpressions | default list -}}
{{- if and (eq .operator "In") .values -}}
{{- $_ := set $labels .key (toString (first .values)) -}}
{{- else if eq .operator "Exists" -}}
{{- $_ := set $labels .key "true" -}}
{{- end -}}
{{- end -}}
{{- toYaml (omit $labels "kubernetes.io/metadata.name") -}}
{{- end -}}

{{/*
The opted-in pod `helm test` creates (the JSON given to `kubectl run --overrides`): opted in by
label and annotation (whatever webhook.optIn is), allowed to read /etc/hostname, enforce mode.
Its check runs as root without capabilities, so only Landlock can deny /etc/shadow (file mode
permits it: the check makes sure). It first waits for kubectl to attach (`kubectl run --stdin`
closes stdin then), so no output is lost to a late attach.
*/}}
{{- define "landlock-injector.testSandboxPod" -}}
{{- $key := include "landlock-injector.injectKey" . -}}
{{- $labels := merge (dict $key "true") (include "landlock-injector.labelsMatching" (.Values.webhook.objectSelector | default dict) | fromYaml) -}}
apiVersion: v1
metadata:
  labels:
    {{- toYaml $labels | nindent 4 }}
  annotations:
    {{ $key }}: "true"
    landlock-injector.io/read: /etc/hostname
    landlock-injector.io/mode: enforce
    kubectl.kubernetes.io/default-container: check
spec:
  restartPolicy: Never
  securityContext:
    seccompProfile:
      type: RuntimeDefault
  containers:
    - name: check
      image: {{ .Values.test.image }}
      stdin: true
      stdinOnce: true
      command:
        - /bin/sh
        - -c
        - |
          set -u
          read -t 120 -r _ || true
          cat /etc/hostname >/dev/null || { echo "FAIL: the allowed read of /etc/hostname was denied"; exit 1; }
          echo "ok: allowed read of /etc/hostname"
          # access(2) is not mediated by Landlock: it says what file permissions alone allow.
          [ -r /etc/shadow ] || { echo "FAIL: /etc/shadow is not readable by permissions; this test would prove nothing"; exit 1; }
          if cat /etc/shadow >/dev/null 2>&1; then echo "FAIL: /etc/shadow was readable: the pod is NOT sandboxed"; exit 1; fi
          echo "ok: read of /etc/shadow denied by the sandbox"
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities:
          drop: [ALL]
{{- end -}}
