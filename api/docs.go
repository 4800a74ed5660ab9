// Package api is the shop's wire contract as the services serve it: each document of api/*.yaml
// bundled with the shared components it references (api/common.yaml, api/event-schemas.yaml) into
// one self-contained JSON file in api/bundled/ by `make generate` (Redocly CLI; see
// docs/adr/0009-shared-components.md). The services serve these bytes unchanged at /openapi.json
// and /asyncapi.json and validate requests against them; oapi-codegen generates from the same
// files, and `make check-generated` fails when a bundle is stale.
package api

import (
	"bytes"
	_ "embed"
)

var (
	//go:embed bundled/product-service.json
	productService []byte
	//go:embed bundled/order-service.json
	orderService []byte
	//go:embed bundled/events.json
	events []byte
	//go:embed bundled/event-schemas.json
	eventSchemas []byte
)

// ProductService is product-service's OpenAPI 3.0 document.
func ProductService() []byte { return bytes.Clone(productService) }

// OrderService is order-service's OpenAPI 3.0 document.
func OrderService() []byte { return bytes.Clone(orderService) }

// Events is the AsyncAPI 3.0 document of the events both services exchange.
func Events() []byte { return bytes.Clone(events) }

// EventSchemas is the OpenAPI 3.0 document holding the events' payload schemas (the same schemas
// Events carries), for validating messages with kin-openapi.
func EventSchemas() []byte { return bytes.Clone(eventSchemas) }
