// Package infra holds no production code: it is the home of the offline checks of the files
// beside it — the Kubernetes manifests (rendered with the kustomize API and decoded strictly into
// the k8s.io/api types), infra/docker-compose.yml (loaded with compose-spec/compose-go), the
// Dockerfiles (parsed and linted with BuildKit's own Dockerfile front end; their build context is
// re-created and resolved with the go command) and the shell scripts (bash -n, shellcheck).
//
// Run them with `go test ./...` in this directory. They need no cluster, no Docker engine and no
// network beyond the Go module cache.
package infra
