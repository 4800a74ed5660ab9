// Package api is generated from api/product-service.yaml (through its bundle, api/bundled/product-service.json): the
// models, the chi router and the strict server interface. Never edit api.gen.go; change the spec
// and run make generate.
package api

//go:generate go tool oapi-codegen -config oapi-codegen.yaml ../../../../api/bundled/product-service.json
