module github.com/shopworks/shop/k6

go 1.26.8

replace github.com/shopworks/shop/clients => ../clients

replace github.com/shopworks/shop/platform => ../platform
