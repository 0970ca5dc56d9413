package licensekit_test

import (
	"context"
	"fmt"
	"os"

	"github.com/licensekit/licensekit/client"
)

// runLicensed runs work while this machine is licensed by the vendor's pool:
// activated, holding a floating seat renewed in the background, and
// answered from the state file within the server's grace when offline.
func runLicensed(ctx context.Context, server, apiKey, poolID, stateFile string, work func(context.Context) error) error {
	c, err := client.New(server, client.WithAPIKey(apiKey), client.WithProduct("acme-cad", "export"),
		client.WithState(client.FileState(stateFile)))
	if err != nil {
		return err
	}
	v, err := c.Activate(ctx, client.Pool(poolID))
	if err != nil {
		return err // refused, or offline beyond the grace: see client.ErrOfflineExpired
	}
	if !v.Valid {
		return fmt.Errorf("not licensed: %s: %s", v.Code, v.Message)
	}
	seat, err := c.Lease(ctx, poolID) // heartbeats at a third of the seat's TTL
	if err != nil {
		return err
	}
	defer seat.Close() // gives the seat back
	go func() {
		for e := range seat.Events() { // renewed, missed, lost, regained
			fmt.Fprintln(os.Stderr, "license seat:", e.Kind)
		}
	}()
	return work(ctx)
}
