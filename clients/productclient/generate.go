package productclient

//go:generate go tool oapi-codegen -config oapi-codegen.yaml ../../api/bundled/product-service.json
