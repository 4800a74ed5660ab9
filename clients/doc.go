// Package clients is the Go SDK of the shop: typed clients generated from the OpenAPI documents
// (productclient, orderclient), the event payload types generated from the AsyncAPI schemas
// (events), exact money (money), and the request-ID and transport helpers they share.
//
//	products, _ := productclient.New("http://localhost:3000", productclient.Options{})
//	orders, _ := orderclient.New("http://localhost:4000", orderclient.Options{})
//	ctx = requestid.NewContext(ctx, "demo-123") // forwarded as X-Request-ID
//	p, _ := products.CreateProductWithResponse(ctx, &productclient.CreateProductParams{},
//		productclient.ProductInput{Name: "BFF Test", Price: money.FromCents(100000), Qty: 50})
//	o, _ := orders.CreateOrderWithResponse(ctx, &orderclient.CreateOrderParams{},
//		orderclient.OrderInput{ProductId: p.JSON201.Id, Qty: 2})
//	// poll orders.GetOrderWithResponse until o.Status is CONFIRMED or REJECTED
//
// A runnable version of this walk-through, with its go.mod (the module is not published: a
// replace points at a checkout), is examples/sdk; `make test` runs it against both services.
package clients
