package events

//go:generate go tool oapi-codegen -config oapi-codegen.yaml ../../api/bundled/event-schemas.json
