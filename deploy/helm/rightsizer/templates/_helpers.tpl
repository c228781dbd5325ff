{{- define "rightsizer.name" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "rightsizer.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "rightsizer.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "rightsizer.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The container's settings, shared by web and worker: the Secret's keys, the
     non-secret settings, and the private key's path. */}}
{{- define "rightsizer.environment" -}}
envFrom:
  - secretRef:
      name: {{ required "existingSecret: the name of the Secret holding the database URL and the forge credentials" .Values.existingSecret }}
env:
  - name: RIGHTSIZER_DATA_DIR
    value: /data
  {{- if .Values.privateKeyKey }}
  - name: RIGHTSIZER_GITHUB_PRIVATE_KEY
    value: /run/secrets/rightsizer/{{ .Values.privateKeyKey }}
  {{- end }}
  {{- range $name, $value := .Values.settings }}
  - name: {{ $name }}
    value: {{ $value | quote }}
  {{- end }}
{{- end -}}

{{- define "rightsizer.volumeMounts" -}}
volumeMounts:
  - name: data
    mountPath: /data
  - name: tmp
    mountPath: /tmp
  {{- if .Values.privateKeyKey }}
  - name: github-app
    mountPath: /run/secrets/rightsizer
    readOnly: true
  {{- end }}
{{- end -}}

{{- define "rightsizer.volumes" -}}
volumes:
  - name: data
    emptyDir: {}
  - name: tmp
    emptyDir: {}
  {{- if .Values.privateKeyKey }}
  - name: github-app
    secret:
      secretName: {{ .Values.existingSecret }}
      defaultMode: 0400
      items:
        - key: {{ .Values.privateKeyKey }}
          path: {{ .Values.privateKeyKey }}
  {{- end }}
{{- end -}}
