package subscription_test

import (
	"testing"

	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/memory"
	"github.com/licensekit/licensekit/storage/storagetest"
)

func TestConformanceMemory(t *testing.T) {
	storagetest.RunSuite(t, "subscription", func(testing.TB) storage.Store { return memory.New() }, storagetest.Features{})
}
