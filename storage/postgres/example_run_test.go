package postgres_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/storage/postgres"
)

// TestExampleOpen runs the body of ExampleOpen (which has no output to check,
// since it needs a database, so go test only compiles it) against a fresh
// schema of the test database and checks what it prints.
func TestExampleOpen(t *testing.T) {
	dsn, schema := freshSchema(t)
	var out bytes.Buffer
	require.NoError(t, countAllocation(context.Background(), &out, dsn, postgres.WithSchema(schema)))
	require.Equal(t, "{\"allocated\":1} version 2\n", out.String())
}
