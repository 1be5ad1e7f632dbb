{{/*
ferry.managerRules are the manager's RBAC rules, in the release namespace or cluster-wide. They
must equal the rules that controller-gen writes to config/rbac/role.yaml from the
+kubebuilder:rbac markers, which test/chart checks. The manager needs Secrets for the job
tokens it creates and the registration token it reads.
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
  verbs: [create, delete, get, list, patch, update, watch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [transfer.ferry.dev]
  resources: [transferjobs]
  verbs: [create, delete, get, list, patch, watch]
- apiGroups: [transfer.ferry.dev]
  resources: [transferjobs/status, transferrunners/status]
  verbs: [get, patch, update]
- apiGroups: [transfer.ferry.dev]
  resources: [transferrunners]
  verbs: [get, list, watch]
{{- end }}

{{/*
ferry.leaderElectionRules let the manager hold its Lease and record leader-election events in
the release namespace. They must equal config/manager/leader_election_role.yaml.
*/}}
{{- define "ferry.leaderElectionRules" -}}
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [create, delete, get, list, patch, update, watch]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
{{- end }}
