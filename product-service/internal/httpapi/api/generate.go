// Package api is generated from api/product-service.yaml: the models, the chi router, the strict server
// interface and the embedded spec. Never edit api.gen.go; change the spec and run make generate.
package api

//go:generate go tool oapi-codegen -config oapi-codegen.yaml ../../../../api/product-service.yaml
