"""The cluster: a new GKE cluster or an existing one, and how many trainees its user nodes hold."""
