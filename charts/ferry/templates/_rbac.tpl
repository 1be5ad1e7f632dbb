{{/*
ferry.managerRules are the manager's RBAC rules. They must stay equal to the rules that
controller-gen writes to config/rbac/role.yaml from the controllers' +kubebuilder:rbac markers;
test/chart checks that they do.
*/}}
{{- define "ferry.managerRules" -}}
- apiGroups: [""]
  resources: [events]
  verbs: [list]
- apiGroups: [""]
  resources: [pods]
  verbs: [create, delete, get, list, watch]
- apiGroups: [""]
  resources: [secrets]
  verbs: [delete, get]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [transfer.ferry.dev]
  resources: [transferjobs]
  verbs: [delete, get, list, watch]
- apiGroups: [transfer.ferry.dev]
  resources: [transferjobs/status]
  verbs: [get, patch, update]
- apiGroups: [transfer.ferry.dev]
  resources: [transferrunners]
  verbs: [get, list, watch]
{{- end }}
