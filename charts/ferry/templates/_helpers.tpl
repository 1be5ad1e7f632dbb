{{/*
ferry.name is the chart name, or nameOverride.
*/}}
{{- define "ferry.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
ferry.fullname is the prefix of every resource name: fullnameOverride, or the release name with
the chart name appended unless the release name already contains it. Truncated to 63 characters
because some Kubernetes name fields are DNS labels.
*/}}
{{- define "ferry.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
ferry.suffixedName is ferry.fullname followed by "-" and a suffix, for objects that need a name
of their own, such as the metrics Service. Called with (dict "context" $ "suffix" "metrics"). The
prefix is truncated so the whole name fits in 63 characters and still ends with the suffix, so
two suffixed names never truncate to the same name.
*/}}
{{- define "ferry.suffixedName" -}}
{{- $prefix := include "ferry.fullname" .context | trunc (int (sub 62 (len .suffix))) | trimSuffix "-" }}
{{- printf "%s-%s" $prefix .suffix | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
ferry.chart is the helm.sh/chart label value: chart name and version.
*/}}
{{- define "ferry.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
ferry.labels are the common labels of every object the chart creates. Objects that belong to the
manager add app.kubernetes.io/component: manager through ferry.managerLabels.
*/}}
{{- define "ferry.labels" -}}
helm.sh/chart: {{ include "ferry.chart" . }}
app.kubernetes.io/name: {{ include "ferry.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ferry
{{- end }}

{{/*
ferry.managerLabels are the labels of the manager's objects.
*/}}
{{- define "ferry.managerLabels" -}}
{{ include "ferry.labels" . }}
app.kubernetes.io/component: manager
{{- end }}

{{/*
ferry.selectorLabels select the manager pods. They never change between upgrades, because a
Deployment's selector is immutable.
*/}}
{{- define "ferry.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ferry.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: manager
{{- end }}

{{/*
ferry.serviceAccountName is the manager's ServiceAccount.
*/}}
{{- define "ferry.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ferry.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false: name an existing ServiceAccount" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
ferry.image is the manager image reference: repository@digest, or repository:tag with the tag
defaulting to the chart's appVersion.
*/}}
{{- define "ferry.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
ferry.jobImage is the image of job pods (--job-image): jobImage, or the manager's image.
*/}}
{{- define "ferry.jobImage" -}}
{{- default (include "ferry.image" .) .Values.jobImage }}
{{- end }}

{{/*
ferry.runnerName is the name of the TransferRunner created from runner values.
*/}}
{{- define "ferry.runnerName" -}}
{{- default (include "ferry.fullname" .) .Values.runner.name }}
{{- end }}

{{/*
ferry.runnerTokenSecretName is the Secret holding the registration token: runner.token.existingSecret,
or the Secret the chart creates from runner.token.value.
*/}}
{{- define "ferry.runnerTokenSecretName" -}}
{{- if .Values.runner.token.existingSecret }}
{{- .Values.runner.token.existingSecret }}
{{- else }}
{{- include "ferry.suffixedName" (dict "context" . "suffix" "runner-token") }}
{{- end }}
{{- end }}

{{/*
ferry.runnerTokenSecretKey is the key of the registration token in that Secret.
*/}}
{{- define "ferry.runnerTokenSecretKey" -}}
{{- if .Values.runner.token.existingSecret }}
{{- .Values.runner.token.existingSecretKey | default "token" }}
{{- else }}
{{- "token" }}
{{- end }}
{{- end }}

{{/*
ferry.validateValues fails the render on combinations the schema cannot express, each with the
fix in the message.
*/}}
{{- define "ferry.validateValues" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail (printf "replicaCount is %d but leaderElection.enabled is false: enable leader election or set replicaCount to 1, because two active managers would start duplicate job pods" (int .Values.replicaCount)) }}
{{- end }}
{{- if .Values.runner.enabled }}
{{- if not .Values.runner.controlPlaneURL }}
{{- fail "runner.controlPlaneURL is required when runner.enabled is true: set it to the control plane's base URL, e.g. https://ferry.example.com" }}
{{- end }}
{{- if and .Values.runner.token.existingSecret .Values.runner.token.value }}
{{- fail "runner.token.existingSecret and runner.token.value are both set: set only one" }}
{{- end }}
{{- if not (or .Values.runner.token.existingSecret .Values.runner.token.value) }}
{{- fail "runner.token.existingSecret or runner.token.value is required when runner.enabled is true: name the Secret holding the registration token, or pass the token" }}
{{- end }}
{{- end }}
{{- if and .Values.metrics.podMonitor.enabled (not .Values.metrics.enabled) }}
{{- fail "metrics.podMonitor.enabled is true but metrics.enabled is false: set metrics.enabled to true so the manager serves the metrics the PodMonitor scrapes, or set metrics.podMonitor.enabled to false" }}
{{- end }}
{{- if .Values.podDisruptionBudget.enabled }}
{{- if and (kindIs "invalid" .Values.podDisruptionBudget.minAvailable) (kindIs "invalid" .Values.podDisruptionBudget.maxUnavailable) }}
{{- fail "podDisruptionBudget: set minAvailable or maxUnavailable, or set enabled to false" }}
{{- end }}
{{- if and (not (kindIs "invalid" .Values.podDisruptionBudget.minAvailable)) (not (kindIs "invalid" .Values.podDisruptionBudget.maxUnavailable)) }}
{{- fail "podDisruptionBudget: minAvailable and maxUnavailable are both set: set only one (the other to null)" }}
{{- end }}
{{- end }}
{{- end }}
