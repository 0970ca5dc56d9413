package storagetest

import "testing"

func subTestStateMachine(t *testing.T, newStore Factory, f Features) {}
