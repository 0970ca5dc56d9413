// Command openapi writes the OpenAPI document of the licensekit REST adapter
// (what GET /openapi.json serves) to standard output or to the file named by
// its argument, for linters and client generators.
package main

import (
	"fmt"
	"os"

	lkhttp "github.com/licensekit/licensekit/adapters/http"
	"github.com/licensekit/licensekit/storage/memory"
)

func main() {
	doc, err := lkhttp.Document(memory.New())
	if err != nil {
		fmt.Fprintln(os.Stderr, "openapi:", err)
		os.Exit(1)
	}
	if len(os.Args) > 1 {
		err = os.WriteFile(os.Args[1], doc, 0o644)
	} else {
		_, err = os.Stdout.Write(doc)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "openapi:", err)
		os.Exit(1)
	}
}
