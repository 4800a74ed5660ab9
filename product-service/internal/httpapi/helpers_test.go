package httpapi_test

import "net"

// net0 finds an address nothing listens on.
type net0 struct{}

func (net0) closedAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}
