package client_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The SDK and the example product link no server code: of this module they
// use only the generated API client and the license-file format; outside it,
// only what the generated client needs.
func TestLinksNoServerCode(t *testing.T) {
	const mod = "github.com/licensekit/licensekit"
	allowed := map[string]bool{
		mod + "/client": true, mod + "/adapters/http/client": true, mod + "/license/licensefile": true, mod + "/examples/vendor": true,
	}
	for _, pkg := range []string{mod + "/client", mod + "/examples/vendor"} {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).CombinedOutput()
		require.NoError(t, err, "%s", out)
		for _, dep := range strings.Fields(string(out)) {
			switch {
			case strings.HasPrefix(dep, mod+"/"):
				require.True(t, allowed[dep], "%s imports %s", pkg, dep)
			default:
				require.True(t, strings.HasPrefix(dep, "github.com/oapi-codegen/runtime") || strings.HasPrefix(dep, "github.com/google/uuid") ||
					strings.HasPrefix(dep, "github.com/apapsch/go-jsonmerge"), "%s imports %s", pkg, dep)
			}
		}
	}
}
