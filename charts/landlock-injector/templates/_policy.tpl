{{/*
The ValidatingAdmissionPolicies' variables (policy.yaml): whether a pod opts in, whether the
webhook wrapped it, and whether the webhook sees it at all (from _selectors.tpl, the same
selectors the webhook is registered with). A pod opts in by any switch the webhook honours:
its label or annotation with any value but "false" (the webhook denies values other than "true",
so a typo is never admitted unsandboxed), or its namespace's label "true" or its naming a
LandlockPolicy (annotation landlock-injector.io/policy), unless the pod says "false".
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
    (({{ $key }} in variables.namespaceLabels && variables.namespaceLabels[{{ $key }}] == 'true' ||
      'landlock-injector.io/policy' in variables.annotations) &&
     !variables.podSwitches.exists(v, v == 'false'))
- name: policyBound
  expression: "'landlock-injector.io/applied-policy' in variables.annotations"
- name: recorded
  expression: "'landlock-injector.io/recording' in variables.annotations"
- name: installers
  expression: >-
    has(object.spec.initContainers) ? object.spec.initContainers.filter(c,
      has(c.image) && c.image == {{ include "landlock-injector.celString" (include "landlock-injector.shimImage" .) }} &&
      has(c.command) && size(c.command) == 3 && c.command[0] == '/landlock-shim' && c.command[1] == 'install') : []
- name: shimDir
  expression: "size(variables.installers) == 1 ? variables.installers[0].command[2] : ''"
- name: shimVolumes
  expression: >-
    size(variables.installers) == 1 && has(variables.installers[0].volumeMounts) ?
      variables.installers[0].volumeMounts.filter(m, m.mountPath == variables.shimDir).map(m, m.name) : []
- name: wrappedContainers
  expression: >-
    (has(object.spec.initContainers) ? object.spec.initContainers.filter(c,
      size(variables.installers) != 1 || c.name != variables.installers[0].name) : []) +
    object.spec.containers
- name: podMode
  expression: >-
    'landlock-injector.io/mode' in variables.annotations ? variables.annotations['landlock-injector.io/mode'] :
    (has(namespaceObject.metadata.annotations) && 'landlock-injector.io/mode' in namespaceObject.metadata.annotations ?
      namespaceObject.metadata.annotations['landlock-injector.io/mode'] : 'best-effort')
{{- /*
Wrapped: the status annotation, one installer of the chart's shim image, and every other
container running that installer's shim with the mode its annotations (or its namespace's)
ask for (any mode when the webhook recorded a LandlockPolicy, whose mode the API server's CEL
cannot read: the pod's own annotations could ask for any mode as well; learn when it recorded
a LandlockRecording), mounting the shim volume, if at all, read-only at the shim directory: no container
but the installer may write the shim every container runs.
*/}}
- name: wrapped
  expression: >-
    'landlock-injector.io/status' in variables.annotations &&
    variables.annotations['landlock-injector.io/status'] == 'injected' &&
    size(variables.installers) == 1 && size(variables.shimVolumes) == 1 &&
    variables.wrappedContainers.all(c, has(c.command) && size(c.command) > 3 &&
      c.command[0] == variables.shimDir + '/landlock-shim' &&
      c.command.indexOf('--mode') > 0 && c.command.indexOf('--mode') < c.command.indexOf('--') &&
      (variables.recorded ? c.command[c.command.indexOf('--mode') + 1] == 'learn' :
       (variables.policyBound || c.command[c.command.indexOf('--mode') + 1] ==
        (('landlock-injector.io/' + c.name + '.mode') in variables.annotations ?
          variables.annotations['landlock-injector.io/' + c.name + '.mode'] : variables.podMode))) &&
      (!has(c.volumeMounts) || c.volumeMounts.all(m, m.name != variables.shimVolumes[0] ||
        (m.mountPath == variables.shimDir && has(m.readOnly) && m.readOnly &&
         (!has(m.subPath) || m.subPath == '')))))
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
