{{/*
The ValidatingAdmissionPolicies' variables (policy.yaml): whether a pod opts in, whether the
webhook wrapped it, and whether the webhook sees it at all (from _selectors.tpl, the same
selectors the webhook is registered with). A pod opts in by any switch the webhook honours:
its label or annotation with any value but "false" (the webhook denies values other than "true",
so a typo is never admitted unsandboxed), or its namespace's label "true" unless the pod says
"false".
*/}}
{{- define "landlock-injector.policyVariables" -}}
{{- $key := include "landlock-injector.celString" (include "landlock-injector.injectKey" .) -}}
- name: labels
  expression: "has(object.metadata.labels) ? object.metadata.labels : {}"
- name: annotations
  expression: "has(object.metadata.annotations) ? object.metadata.annotations : {}"
- name: namespaceLabels
  expression: "has(namespaceObject.metadata.labels) ? namespaceObject.metadata.labels : {}"
- name: podSwitches
  expression: >-
    ({{ $key }} in variables.labels ? [variables.labels[{{ $key }}]] : []) +
    ({{ $key }} in variables.annotations ? [variables.annotations[{{ $key }}]] : [])
- name: optedIn
  expression: >-
    variables.podSwitches.exists(v, v != 'false') ||
    ({{ $key }} in variables.namespaceLabels && variables.namespaceLabels[{{ $key }}] == 'true' &&
     !variables.podSwitches.exists(v, v == 'false'))
- name: wrapped
  expression: >-
    'landlock-injector.io/status' in variables.annotations &&
    variables.annotations['landlock-injector.io/status'] == 'injected' &&
    has(object.spec.initContainers) &&
    object.spec.initContainers.exists(c, has(c.image) && c.image == {{ include "landlock-injector.celString" (include "landlock-injector.shimImage" .) }} &&
      has(c.command) && size(c.command) == 3 && c.command[0] == '/landlock-shim' && c.command[1] == 'install') &&
    object.spec.initContainers.all(c, has(c.command) && size(c.command) > 0 &&
      c.command[0].endsWith('/landlock-shim')) &&
    object.spec.containers.all(c, has(c.command) && size(c.command) > 0 &&
      c.command[0].endsWith('/landlock-shim'))
- name: namespaceInScope
  expression: >-
    {{ include "landlock-injector.namespaceInScopeCel" . }}
- name: podInScope
  expression: >-
    {{ include "landlock-injector.podInScopeCel" . }}
- name: inScope
  expression: "variables.namespaceInScope && variables.podInScope"
- name: seen
  expression: >-
    {{ include "landlock-injector.seenCel" . }}
{{- end -}}
