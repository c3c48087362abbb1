{{/* The chart's name (nameOverride or "fakegpu"). */}}
{{- define "fakegpu.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The prefix of every resource's name. */}}
{{- define "fakegpu.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "fakegpu.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "fakegpu.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The DaemonSet's selector. */}}
{{- define "fakegpu.selectorLabels" -}}
app.kubernetes.io/name: {{ include "fakegpu.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "fakegpu.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "fakegpu.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The tools' image. */}}
{{- define "fakegpu.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The exporter's image: its own repository/tag, else the tools' image. */}}
{{- define "fakegpu.exporterImage" -}}
{{- $repo := default .Values.image.repository .Values.exporter.image.repository -}}
{{- $tag := default (default .Chart.AppVersion .Values.image.tag) .Values.exporter.image.tag -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}
