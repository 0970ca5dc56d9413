// Command specdump writes the OpenAPI document of the licensekit REST adapter,
// exactly as GET /openapi.json serves it, to the file named by its argument
// (standard output without one). It builds the handler in process over an
// empty memory store and starts no server; go generate runs it to refresh the
// document the Go client is generated from.
package main

import (
	"fmt"
	"os"

	"github.com/licensekit/licensekit/adapters/http/client/internal/spec"
)

func main() {
	doc, err := spec.Served()
	if err == nil {
		if len(os.Args) > 1 {
			err = os.WriteFile(os.Args[1], doc, 0o644)
		} else {
			_, err = os.Stdout.Write(doc)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "specdump:", err)
		os.Exit(1)
	}
}
