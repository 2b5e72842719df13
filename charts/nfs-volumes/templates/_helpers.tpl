{{/* Labels of every object. */}}
{{- define "nfs-volumes.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- with .Values.labels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
A PersistentVolume on a folder of the export and the claim it is reserved for (claimRef) and bound to
(volumeName). Retain: deleting either object never touches the folder.
Arguments: root (the chart context), volume (public or shared values), accessMode, readOnly.
*/}}
{{- define "nfs-volumes.folder" -}}
{{- $root := .root -}}
{{- $server := required "server: the NFS server's address is required" $root.Values.server -}}
{{- $path := required "path: the exported path is required" $root.Values.path -}}
{{- $volumeName := printf "%s-%s" $root.Release.Namespace .volume.claimName -}}
apiVersion: v1
kind: PersistentVolume
metadata:
  name: {{ $volumeName }}
  labels:
    {{- include "nfs-volumes.labels" $root | nindent 4 }}
spec:
  capacity:
    storage: {{ .volume.size | quote }}
  accessModes:
    - {{ .accessMode }}
  persistentVolumeReclaimPolicy: Retain
  storageClassName: ""
  volumeMode: Filesystem
  {{- with $root.Values.mountOptions }}
  mountOptions:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  nfs:
    server: {{ $server | quote }}
    path: {{ printf "%s/%s" (trimSuffix "/" $path) .volume.folder | quote }}
    readOnly: {{ .readOnly }}
  claimRef:
    namespace: {{ $root.Release.Namespace }}
    name: {{ .volume.claimName }}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {{ .volume.claimName }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "nfs-volumes.labels" $root | nindent 4 }}
spec:
  accessModes:
    - {{ .accessMode }}
  storageClassName: ""
  volumeMode: Filesystem
  volumeName: {{ $volumeName }}
  # A folder of the export has no size of its own, and Kubernetes refuses to resize a claim without an
  # expandable StorageClass: the claim asks for a nominal minimum, the volume shows the export's size.
  resources:
    requests:
      storage: "1Mi"
{{- end }}
