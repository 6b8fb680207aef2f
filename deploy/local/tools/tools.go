//go:build tools

// Package tools pins the Go command-line tools the project builds from the module proxy, so go.sum
// fixes their versions: grpcurl and grpc-health-probe for end-to-end tests, ghz for RPC benchmarks.
package tools

import (
	_ "github.com/bojand/ghz/cmd/ghz"
	_ "github.com/fullstorydev/grpcurl/cmd/grpcurl"
	_ "github.com/grpc-ecosystem/grpc-health-probe"
)
