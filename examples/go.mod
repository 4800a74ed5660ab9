module github.com/shopworks/shop/examples

go 1.26.8

require (
	github.com/shopworks/shop/clients v0.0.0
	github.com/stretchr/testify v1.12.1
	golang.org/x/mod v0.41.0
)

require (
	github.com/apapsch/go-jsonmerge/v2 v2.0.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/oapi-codegen/runtime v1.8.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)

// The clients module is not published (go get cannot fetch it): it is used from a checkout of
// this repository. In your own module, point the path at your checkout's clients/ directory.
replace github.com/shopworks/shop/clients => ../clients
