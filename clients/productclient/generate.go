package productclient

//go:generate go tool oapi-codegen -config oapi-codegen.yaml ../../api/product-service.yaml
