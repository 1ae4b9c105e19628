{{/*
Which pods the API server sends to the webhook, decided once here and used twice: as the
MutatingWebhookConfiguration's selectors (webhook.yaml) and, translated to CEL, by the
ValidatingAdmissionPolicies (policy.yaml), so the policy never disagrees with the webhook about
which pods the webhook sees.
*/}}

{{/* The opt-in switch: a pod label, a pod annotation and a namespace label of this name. */}}
{{- define "landlock-injector.injectKey" -}}
landlock-injector.io/inject
{{- end -}}

{{/* Namespaces never mutated whatever the selectors say (the webhook refuses them too). */}}
{{- define "landlock-injector.exemptNamespaces" -}}
{{- list "kube-system" .Release.Namespace | toJson -}}
{{- end -}}

{{/* The namespaces the webhook acts on: not the exempt ones, and webhook.namespaceSelector. */}}
{{- define "landlock-injector.scopeNamespaceSelector" -}}
{{- $user := .Values.webhook.namespaceSelector | default dict -}}
{{- $exempt := dict "key" "kubernetes.io/metadata.name" "operator" "NotIn" "values" (include "landlock-injector.exemptNamespaces" . | fromJsonArray) -}}
{{- $selector := dict "matchExpressions" (concat (list $exempt) ($user.matchExpressions | default list)) -}}
{{- with $user.matchLabels }}
{{- $_ := set $selector "matchLabels" . -}}
{{- end }}
{{- toYaml $selector -}}
{{- end -}}

{{/*
The webhook entries, as YAML `entries: [{name, namespaceSelector, objectSelector}]`.
optIn both/annotation: one entry, every pod in scope (the webhook decides from the pod).
optIn label: the API server calls the webhook only for pods with the label (first entry) or in
namespaces with the label (second entry, which leaves out pods the first already sends).
*/}}
{{- define "landlock-injector.webhookEntries" -}}
{{- $key := include "landlock-injector.injectKey" . -}}
{{- $namespaces := include "landlock-injector.scopeNamespaceSelector" . | fromYaml -}}
{{- $objects := deepCopy (.Values.webhook.objectSelector | default dict) -}}
{{- $entries := list -}}
{{- if eq .Values.webhook.optIn "label" -}}
{{- $labelledPods := deepCopy $objects -}}
{{- $_ := set $labelledPods "matchLabels" (merge (dict $key "true") ($objects.matchLabels | default dict)) -}}
{{- $entries = append $entries (dict "name" "inject.landlock-injector.io" "namespaceSelector" $namespaces "objectSelector" $labelledPods) -}}
{{- $labelledNamespaces := deepCopy $namespaces -}}
{{- $_ := set $labelledNamespaces "matchLabels" (merge (dict $key "true") ($namespaces.matchLabels | default dict)) -}}
{{- $otherPods := deepCopy $objects -}}
{{- $_ := set $otherPods "matchExpressions" (append ($objects.matchExpressions | default list) (dict "key" $key "operator" "NotIn" "values" (list "true"))) -}}
{{- $entries = append $entries (dict "name" "namespace.inject.landlock-injector.io" "namespaceSelector" $labelledNamespaces "objectSelector" $otherPods) -}}
{{- else if has .Values.webhook.optIn (list "both" "annotation") -}}
{{- $entries = append $entries (dict "name" "inject.landlock-injector.io" "namespaceSelector" $namespaces "objectSelector" $objects) -}}
{{- else -}}
{{- fail (printf "webhook.optIn must be label, annotation or both, not %q" (toString .Values.webhook.optIn)) -}}
{{- end -}}
{{- toYaml (dict "entries" $entries) -}}
{{- end -}}

{{/*
A CEL string literal: label keys and values never hold quotes or backslashes (the API server
rejects such labels), so single quotes need no escaping; anything else is refused.
*/}}
{{- define "landlock-injector.celString" -}}
{{- $s := toString . -}}
{{- if regexMatch "['\\\n]" $s -}}
{{- fail (printf "%q cannot be a label key or value" $s) -}}
{{- end -}}
{{- printf "'%s'" $s -}}
{{- end -}}

{{/* A CEL list of string literals. */}}
{{- define "landlock-injector.celList" -}}
{{- $items := list -}}
{{- range . }}{{ $items = append $items (include "landlock-injector.celString" .) }}{{ end -}}
{{- printf "[%s]" (join ", " $items) -}}
{{- end -}}

{{/*
CEL that is true when the label map named by the second element (a CEL expression) matches the
LabelSelector in the first, with the API server's semantics (NotIn and DoesNotExist match a
missing key).
*/}}
{{- define "landlock-injector.selectorCel" -}}
{{- $selector := index . 0 | default dict -}}
{{- $labels := index . 1 -}}
{{- $terms := list -}}
{{- range $key, $value := $selector.matchLabels | default dict -}}
{{- $k := include "landlock-injector.celString" $key -}}
{{- $terms = append $terms (printf "(%s in %s && %s[%s] == %s)" $k $labels $labels $k (include "landlock-injector.celString" $value)) -}}
{{- end -}}
{{- range $selector.matchExpressions | default list -}}
{{- $k := include "landlock-injector.celString" .key -}}
{{- $values := include "landlock-injector.celList" (.values | default list) -}}
{{- if eq .operator "In" -}}
{{- $terms = append $terms (printf "(%s in %s && %s[%s] in %s)" $k $labels $labels $k $values) -}}
{{- else if eq .operator "NotIn" -}}
{{- $terms = append $terms (printf "(!(%s in %s) || !(%s[%s] in %s))" $k $labels $labels $k $values) -}}
{{- else if eq .operator "Exists" -}}
{{- $terms = append $terms (printf "(%s in %s)" $k $labels) -}}
{{- else if eq .operator "DoesNotExist" -}}
{{- $terms = append $terms (printf "!(%s in %s)" $k $labels) -}}
{{- else -}}
{{- fail (printf "label selector operator must be In, NotIn, Exists or DoesNotExist, not %q" (toString .operator)) -}}
{{- end -}}
{{- end -}}
{{- if $terms }}{{ join " && " $terms }}{{ else }}true{{ end -}}
{{- end -}}

{{/* CEL: the pod's namespace is one the webhook acts on (policy variable namespaceLabels). */}}
{{- define "landlock-injector.namespaceInScopeCel" -}}
{{- include "landlock-injector.selectorCel" (list (include "landlock-injector.scopeNamespaceSelector" . | fromYaml) "variables.namespaceLabels") -}}
{{- end -}}

{{/* CEL: webhook.objectSelector lets the pod through (policy variable labels). */}}
{{- define "landlock-injector.podInScopeCel" -}}
{{- include "landlock-injector.selectorCel" (list (.Values.webhook.objectSelector | default dict) "variables.labels") -}}
{{- end -}}

{{/* CEL: some webhook entry matches the pod and its namespace: the API server calls the webhook. */}}
{{- define "landlock-injector.seenCel" -}}
{{- $terms := list -}}
{{- range (include "landlock-injector.webhookEntries" . | fromYaml).entries -}}
{{- $namespace := include "landlock-injector.selectorCel" (list .namespaceSelector "variables.namespaceLabels") -}}
{{- $pod := include "landlock-injector.selectorCel" (list .objectSelector "variables.labels") -}}
{{- $terms = append $terms (printf "((%s) && (%s))" $namespace $pod) -}}
{{- end -}}
{{- join " || " $terms -}}
{{- end -}}
