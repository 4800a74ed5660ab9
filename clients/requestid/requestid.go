// Package requestid owns the request ID's place in a context.Context, so that the services'
// middleware, their outgoing calls through the generated clients and any SDK user agree on it.
package requestid

import "context"

// Header is the HTTP header that carries the request ID.
const Header = "X-Request-ID"

type key struct{}

// NewContext returns ctx carrying id.
func NewContext(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, key{}, id)
}

// FromContext returns the request ID in ctx, or "".
func FromContext(ctx context.Context) string {
	id, _ := ctx.Value(key{}).(string)
	return id
}
