package orderclient

//go:generate go tool oapi-codegen -config oapi-codegen.yaml ../../api/bundled/order-service.json
