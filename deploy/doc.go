// Package deploy holds jwtgate's deployment files: Kubernetes manifests in
// kubernetes/ (with the overlay kubernetes-redis/, which adds a Redis for the
// session counters) and the docker compose trial's configuration in compose/ (the
// Dockerfile and docker-compose.yaml are at the repository root). It has no Go
// code; its tests check, without a Docker engine or a cluster, that every file
// parses, that the settings which make the deployment safe and working are there,
// that the pieces refer to each other consistently, and that the configuration
// files load with jwtgate's own strict loader.
package deploy
