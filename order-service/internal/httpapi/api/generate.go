// Package api is generated from api/order-service.yaml (through its bundle, api/bundled/order-service.json): the
// models, the chi router and the strict server interface. Never edit api.gen.go; change the spec
// and run make generate.
package api

//go:generate go tool oapi-codegen -config oapi-codegen.yaml ../../../../api/bundled/order-service.json
