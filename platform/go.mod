module github.com/shopworks/shop/platform

go 1.26.8

replace github.com/shopworks/shop/clients => ../clients
