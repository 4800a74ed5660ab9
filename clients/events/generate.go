package events

//go:generate go tool oapi-codegen -config oapi-codegen.yaml ../../api/event-schemas.yaml
