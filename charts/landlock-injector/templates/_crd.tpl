{{/*
The rules of one level of a LandlockPolicy (spec.default, each spec.containers entry): the
annotations' vocabulary in camelCase. The CEL rules refuse what the webhook's annotation parser
refuses, with its messages (tests/tests/chart_policy_crd.rs checks both with kube-cel); the
webhook still checks every value when it binds a policy. maxItems and maxLength bound the CEL
cost the API server estimates.
*/}}
{{- define "landlock-injector.policyPaths" -}}
type: array
maxItems: 128
items:
  type: string
  maxLength: 4096
  x-kubernetes-validations:
    - rule: "size(self) > 0"
      message: "empty path"
    - rule: "self.startsWith('/')"
      message: "path must be absolute (start with '/')"
    - rule: "self == '/' || !(self.endsWith('/') || self.contains('//'))"
      message: "path has an empty element (a doubled or trailing '/')"
    - rule: "!(self.endsWith('/.') || self.contains('/./'))"
      message: "path has a '.' element; write the path without it"
    - rule: "!(self.endsWith('/..') || self.contains('/../'))"
      message: "path has a '..' element; write the path it resolves to"
    - rule: |-
        self.matches('^([^\\\\]|\\\\x[0-9a-fA-F]{2})*$')
      message: "a backslash must start \\xHH (two hex digits; write a backslash itself as \\x5c)"
    - rule: |-
        !self.contains('\\x00')
      message: "path contains a NUL byte"
{{- end -}}

{{- define "landlock-injector.policyPorts" -}}
type: array
maxItems: 128
items:
  type: integer
  x-kubernetes-validations:
    - rule: "self >= 1 && self <= 65535"
      message: "port out of range (expected 1-65535)"
{{- end -}}

{{- define "landlock-injector.policyRules" -}}
read:
  description: Paths the program may read (annotation read).
  {{- include "landlock-injector.policyPaths" . | nindent 2 }}
readExec:
  description: Paths the program may read and execute (annotation read-exec).
  {{- include "landlock-injector.policyPaths" . | nindent 2 }}
write:
  description: Paths the program may read and write (annotation write).
  {{- include "landlock-injector.policyPaths" . | nindent 2 }}
writeExec:
  description: Paths the program may read, write and execute (annotation write-exec).
  {{- include "landlock-injector.policyPaths" . | nindent 2 }}
list:
  description: Directories the program may list, not read (annotation list).
  {{- include "landlock-injector.policyPaths" . | nindent 2 }}
bindTcp:
  description: TCP ports the program may bind (annotation bind-tcp).
  {{- include "landlock-injector.policyPorts" . | nindent 2 }}
connectTcp:
  description: TCP ports the program may connect to (annotation connect-tcp).
  {{- include "landlock-injector.policyPorts" . | nindent 2 }}
bindUdp:
  description: UDP ports the program may bind (annotation bind-udp, Landlock ABI 10).
  {{- include "landlock-injector.policyPorts" . | nindent 2 }}
connectUdp:
  description: UDP ports the program may connect or send to (annotation connect-udp, Landlock ABI 10).
  {{- include "landlock-injector.policyPorts" . | nindent 2 }}
mode:
  description: enforce, best-effort, dry-run or learn (annotation mode).
  type: string
  maxLength: 64
  x-kubernetes-validations:
    - rule: "self in ['enforce', 'best-effort', 'dry-run', 'learn']"
      message: "unknown mode (expected enforce, best-effort, dry-run or learn)"
profile:
  description: default, minimal or none (annotation profile).
  type: string
  maxLength: 64
  x-kubernetes-validations:
    - rule: "self in ['default', 'minimal', 'none']"
      message: "unknown profile (expected default, minimal or none)"
discover:
  description: Volume discovery, "true", "false", "spec" or "mounts" (annotation discover).
  type: string
  maxLength: 64
  x-kubernetes-validations:
    - rule: "self in ['true', 'false', 'spec', 'mounts']"
      message: 'expected "true", "false", "spec" (pod-spec volumes only) or "mounts" (the shim''s mount-table discovery only)'
wrapExec:
  description: Whether exec probes and exec lifecycle hooks run in the sandbox (annotation wrap-exec).
  type: boolean
scope:
  description: Signal and abstract-UNIX-socket scoping, available, required or off (annotation scope).
  type: string
  maxLength: 64
  x-kubernetes-validations:
    - rule: "self in ['available', 'required', 'off']"
      message: "unknown scope (expected available, required or off)"
{{- end -}}

{{- /* A label selector's schema (spec.podSelector of LandlockPolicy and LandlockRecording). */}}
{{- define "landlock-injector.labelSelector" -}}
type: object
properties:
  matchLabels:
    type: object
    maxProperties: 64
    additionalProperties:
      type: string
      maxLength: 63
  matchExpressions:
    type: array
    maxItems: 32
    items:
      type: object
      required: [key, operator]
      x-kubernetes-validations:
        - rule: "self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 : !has(self.values) || size(self.values) == 0"
          message: "values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist"
      properties:
        key:
          type: string
          maxLength: 317
        operator:
          type: string
          enum: [In, NotIn, Exists, DoesNotExist]
        values:
          type: array
          maxItems: 128
          items:
            type: string
            maxLength: 63
x-kubernetes-map-type: atomic
{{- end }}
