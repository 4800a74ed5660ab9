// Package producttest serves product-service's API (generated from api/product-service.yaml) over
// an in-memory catalog, so that order-service's tests talk to a server that speaks exactly the
// spec. Only tests import it.
package producttest

//go:generate go tool oapi-codegen -config oapi-codegen.yaml ../../../api/bundled/product-service.json
